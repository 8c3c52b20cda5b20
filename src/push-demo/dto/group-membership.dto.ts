import { MAX_UID_LENGTH } from '../../auth/auth.constants';
import { RequiredString } from '../../http/validation/required-string.decorator';
import { MAX_CLIENT_ID_FIELD } from '../push-demo.constants';

/** Body of `POST /join` and `POST /leave` (JSON or form). Fields are checked in this order. */
export class GroupMembershipDto {
  /** One of the caller's own connections. */
  @RequiredString(MAX_CLIENT_ID_FIELD)
  client_id!: string;

  /** The group to join or leave. */
  @RequiredString(MAX_UID_LENGTH)
  group!: string;
}

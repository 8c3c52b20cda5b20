import { MAX_UID_LENGTH } from '../../auth/auth.constants';
import { OptionalField } from '../../http/validation/optional-field.decorator';
import { RequiredString } from '../../http/validation/required-string.decorator';
import { MAX_CLIENT_ID_FIELD } from '../push-demo.constants';

/** Body of `POST /bind` (JSON or form). Fields are checked in this order. */
export class BindDto {
  /** The connection to bind, as its init frame gave it (the push module then checks its shape). */
  @RequiredString(MAX_CLIENT_ID_FIELD)
  client_id!: string;

  /** A group to join as well; may be left out, but not sent empty or `null`. */
  @OptionalField()
  @RequiredString(MAX_UID_LENGTH)
  group?: string;
}

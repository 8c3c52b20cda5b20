import { RequiredString } from '../../http/validation/required-string.decorator';
import { MAX_CLIENT_ID_FIELD } from '../push-demo.constants';

/** Body of `POST /unbind` (JSON or form): one of the caller's own connections. */
export class UnbindDto {
  /** The connection, as its init frame gave it (the push module then checks its shape). */
  @RequiredString(MAX_CLIENT_ID_FIELD)
  client_id!: string;
}

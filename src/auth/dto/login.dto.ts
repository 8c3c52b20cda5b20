import { RequiredString } from '../../http/validation/required-string.decorator';
import { MAX_UID_LENGTH } from '../auth.constants';

/** Body of `POST /login` (JSON or form). */
export class LoginDto {
  /** Who logs in: 1 to 256 characters, well-formed Unicode. */
  @RequiredString(MAX_UID_LENGTH)
  uid!: string;
}

import { IsWellFormedUnicode } from '../../http/validation/is-well-formed-unicode.validator';

/** Route parameters of `GET /presence/:uid`. */
export class PresenceParamsDto {
  /**
   * The uid, percent-decoded by the router. The router already refuses an encoded lone surrogate; this check keeps
   * the 400 if a router ever lets one through.
   */
  @IsWellFormedUnicode()
  uid!: string;
}

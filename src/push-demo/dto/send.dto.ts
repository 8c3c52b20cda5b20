import { IsIn } from 'class-validator';
import type { JsonValue } from 'nest-push-channel';
import { MAX_UID_LENGTH } from '../../auth/auth.constants';
import { ExactlyOneOf } from '../../http/validation/exactly-one-of.validator';
import { IsPresent } from '../../http/validation/is-present.validator';
import { OptionalField } from '../../http/validation/optional-field.decorator';
import { RequiredString } from '../../http/validation/required-string.decorator';
import { MAX_CLIENT_ID_FIELD } from '../push-demo.constants';

/** The fields of `POST /send` that choose the recipients; a body gives exactly one of them. */
export const SEND_TARGETS = ['uid', 'group', 'client_id', 'all'] as const;

/** Which recipients a valid `SendDto` chose. */
export type SendTarget = (typeof SEND_TARGETS)[number];

/**
 * Body of `POST /send` (JSON or form). Checked in this order: exactly one target, then `message`, then the chosen
 * target's own field.
 */
export class SendDto {
  /**
   * What recipients get as `data`, exactly as sent: any JSON value (a string from a form) but `null` or `""`.
   * It also carries the body-wide rule "exactly one target", declared first so that it is judged first.
   */
  @ExactlyOneOf(SEND_TARGETS, { message: 'give exactly one of uid, group, client_id or all: true' })
  @IsPresent()
  message!: JsonValue;

  /** Every connection bound to this uid. */
  @OptionalField()
  @RequiredString(MAX_UID_LENGTH)
  uid?: string;

  /** Every member of this group. */
  @OptionalField()
  @RequiredString(MAX_UID_LENGTH)
  group?: string;

  /** This one connection. */
  @OptionalField()
  @RequiredString(MAX_CLIENT_ID_FIELD)
  client_id?: string;

  /** Everyone: `true` in JSON, `all=true` in a form. */
  @OptionalField()
  @IsIn([true, 'true'], { message: '$property must be true' })
  all?: true | 'true';
}

/** The target a validated body chose (the one field of `SEND_TARGETS` that is not `undefined`). */
export function sendTarget(body: SendDto): SendTarget {
  const given = SEND_TARGETS.filter((key) => body[key] !== undefined);
  if (given.length !== 1) throw new Error(`sendTarget: expected a validated SendDto, got targets [${given.join(', ')}]`);
  return given[0];
}

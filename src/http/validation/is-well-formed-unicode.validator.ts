import { registerDecorator, type ValidationOptions } from 'class-validator';
import { isWellFormedString } from 'nest-push-channel';

/** Name of the constraint in a `ValidationError`, and its rank in `CHECK_ORDER`. */
export const IS_WELL_FORMED_UNICODE = 'isWellFormedUnicode';

/**
 * A string field must be well-formed Unicode. JSON can carry a lone UTF-16 surrogate (`"\ud800"`); such a string
 * cannot be written as UTF-8 (a cookie, Redis, a frame) without turning into U+FFFD, so two different names would
 * alias, or `encodeURIComponent` throws and the request ends in a 500. Non-strings pass (another check refuses
 * them).
 */
export function IsWellFormedUnicode(options?: ValidationOptions): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: IS_WELL_FORMED_UNICODE,
      target: target.constructor,
      propertyName: propertyName as string,
      options,
      validator: {
        validate: (value: unknown) => typeof value !== 'string' || isWellFormedString(value),
        defaultMessage: (args) =>
          `${args!.property} must be well-formed Unicode (it contains a lone UTF-16 surrogate)`,
      },
    });
}

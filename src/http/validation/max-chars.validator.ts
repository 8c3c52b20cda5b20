import { registerDecorator, type ValidationOptions } from 'class-validator';

/** Name of the constraint in a `ValidationError`, and its rank in `CHECK_ORDER`. */
export const MAX_CHARS = 'maxChars';

/**
 * A string field must be at most `max` UTF-16 code units (`value.length`), the unit the push module's own limits
 * count in. class-validator's `@MaxLength()` counts a surrogate pair as one character, so a 256-character limit
 * there would let 512 code units through. Non-strings pass (another check refuses them).
 */
export function MaxChars(max: number, options?: ValidationOptions): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: MAX_CHARS,
      target: target.constructor,
      propertyName: propertyName as string,
      constraints: [max],
      options,
      validator: {
        validate: (value: unknown) => typeof value !== 'string' || value.length <= max,
        defaultMessage: (args) => `${args!.property} must be at most ${max} characters`,
      },
    });
}

import { registerDecorator, type ValidationOptions } from 'class-validator';

/** Name of the constraint in a `ValidationError`, and its rank in `CHECK_ORDER`. */
export const IS_PRESENT = 'isPresent';

/**
 * The field must be given and not empty: `undefined`, `null` and `''` fail with "`<field>` is required". Any other
 * value passes, whatever its type (`@IsString()` and the like judge that). A form sends an emptied input as `''`, so
 * class-validator's `@IsDefined()` (which lets `''` through) is not enough.
 */
export function IsPresent(options?: ValidationOptions): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: IS_PRESENT,
      target: target.constructor,
      propertyName: propertyName as string,
      options,
      validator: {
        validate: (value: unknown) => value !== undefined && value !== null && value !== '',
        defaultMessage: (args) => `${args!.property} is required`,
      },
    });
}

import { registerDecorator, type ValidationOptions } from 'class-validator';

/** Name of the constraint in a `ValidationError`, and its rank in `CHECK_ORDER`. */
export const EXACTLY_ONE_OF = 'exactlyOneOf';

/**
 * A rule on the whole body: exactly one of `keys` is given (not `undefined`; `null` counts as given, and is then
 * refused by that field's own checks). class-validator has no class-level validators, so this sits on a property
 * that is always validated, declared first so that it is judged before the fields it chooses between. The value of
 * the property it sits on is not looked at.
 */
export function ExactlyOneOf(keys: readonly string[], options?: ValidationOptions): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: EXACTLY_ONE_OF,
      target: target.constructor,
      propertyName: propertyName as string,
      constraints: [keys],
      options,
      validator: {
        validate: (_value: unknown, args) => {
          const body = args!.object as Record<string, unknown>;
          return keys.filter((key) => body[key] !== undefined).length === 1;
        },
        defaultMessage: () => `give exactly one of ${keys.join(', ')}`,
      },
    });
}

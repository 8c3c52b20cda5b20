import { ValidateIf, type ValidationOptions } from 'class-validator';

/**
 * The field may be left out: when it is `undefined` none of its checks run. Unlike class-validator's
 * `@IsOptional()`, `null` is not "left out": a field sent as `null` is judged, so `{"group": null}` answers
 * "group is required" rather than being ignored.
 */
export function OptionalField(options?: ValidationOptions): PropertyDecorator {
  return ValidateIf((_object: unknown, value: unknown) => value !== undefined, options);
}

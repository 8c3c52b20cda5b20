import { applyDecorators } from '@nestjs/common';
import { IsString } from 'class-validator';
import { IsPresent } from './is-present.validator';
import { IsWellFormedUnicode } from './is-well-formed-unicode.validator';
import { MaxChars } from './max-chars.validator';

/**
 * A required, non-empty, well-formed string of at most `max` UTF-16 code units. Each failure is its own
 * constraint; `CHECK_ORDER` decides which one a request hears about: "is required", then "must be a string", then
 * "must be at most `max` characters", then "must be well-formed Unicode".
 */
export function RequiredString(max: number): PropertyDecorator {
  return applyDecorators(
    IsPresent(),
    IsString({ message: '$property must be a string' }),
    MaxChars(max),
    IsWellFormedUnicode(),
  );
}

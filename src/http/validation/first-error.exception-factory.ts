import type { BadRequestException } from '@nestjs/common';
import type { ValidationError } from 'class-validator';
import { badRequest } from './bad-request';
import { CHECK_ORDER } from './check-order';

/** The message when class-validator reports an error without any constraint message (not expected). */
export const FALLBACK_MESSAGE = 'request is invalid';

/**
 * `ValidationPipe`'s `exceptionFactory` for the example app: one 400 `{statusCode, error, message}` whose message is
 * a single string naming the first bad field, never Nest's default `message: string[]`. Clients (and the demo
 * page) show `message` as it is, and the app's contract has always been one string: the first failing field in
 * the DTO's declaration order, and within it the first failed check in `CHECK_ORDER`.
 */
export function firstErrorAsBadRequest(errors: ValidationError[]): BadRequestException {
  return badRequest(firstMessage(errors) ?? FALLBACK_MESSAGE);
}

/** The message of the first failed check of the first field that has one (depth first), or undefined. */
export function firstMessage(errors: readonly ValidationError[]): string | undefined {
  for (const error of errors) {
    const constraints = error.constraints ?? {};
    const names = Object.keys(constraints);
    if (names.length > 0) return constraints[names.sort(byCheckOrder)[0]];
    const nested = firstMessage(error.children ?? []);
    if (nested !== undefined) return nested;
  }
  return undefined;
}

function byCheckOrder(a: string, b: string): number {
  return rank(a) - rank(b); // Array#sort is stable: unlisted names keep class-validator's order
}

function rank(name: string): number {
  const index = CHECK_ORDER.indexOf(name);
  return index < 0 ? CHECK_ORDER.length : index;
}

import { BadRequestException } from '@nestjs/common';

/**
 * A 400 whose body is `{statusCode: 400, error: 'Bad Request', message}` with a single string message, the shape
 * every error of the example app has (Nest's ValidationPipe would answer `message: string[]`).
 */
export function badRequest(message: string): BadRequestException {
  return new BadRequestException({ statusCode: 400, error: 'Bad Request', message });
}

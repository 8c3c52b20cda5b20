import type { NextFunction, Request, Response } from 'express';
import { STATUS_CODES } from 'node:http';

/**
 * A body that could not be read or parsed, as body-parser describes it (`status`, and `type` such as
 * `entity.too.large` or `entity.parse.failed`). The Fastify platform's own parsers raise the same shape.
 */
export interface BodyReadError extends Error {
  status?: number;
  type?: string;
  limit?: number;
}

/** The JSON error body both platforms answer for a refused request body. */
export interface BodyErrorBody {
  statusCode: number;
  error: string;
  message: string;
}

/**
 * The answer to a body that could not be read: a body over the limit is a 413, malformed JSON a 400, anything
 * else (unsupported charset or content encoding, a truncated body, too many form fields) its own 4xx, always in the
 * app's JSON error shape. Null for an error that is not a client's fault (left to the framework, which logs it).
 */
export function bodyErrorBody(error: BodyReadError, limit: string): BodyErrorBody | null {
  const status = error.status;
  if (typeof status !== 'number' || status < 400 || status >= 500) return null;
  if (error.type === 'entity.too.large') {
    return { statusCode: 413, error: 'Payload Too Large', message: `body must be at most ${limit}` };
  }
  if (error.type === 'entity.parse.failed') {
    return { statusCode: 400, error: 'Bad Request', message: 'body is not valid JSON' };
  }
  return { statusCode: status, error: STATUS_CODES[status] ?? 'Bad Request', message: error.message };
}

/**
 * Express error middleware for the body parsers, which run before Nest's routing and would otherwise answer in
 * HTML: a body over the limit becomes a JSON 413, malformed JSON a JSON 400 (see `bodyErrorBody`).
 */
export function bodyErrorHandler(limit: string) {
  return (error: BodyReadError, _req: Request, res: Response, next: NextFunction): void => {
    const body = res.headersSent ? null : bodyErrorBody(error, limit);
    if (body === null) return next(error);
    res.status(body.statusCode).json(body);
  };
}

import type { NextFunction, Request, Response } from 'express';

interface BodyParserError extends Error {
  status?: number;
  type?: string;
  limit?: number;
}

/**
 * Express error middleware for the body parsers, which run before Nest's routing and would otherwise answer in
 * HTML: a body over the limit becomes a JSON 413, malformed JSON a JSON 400.
 */
export function bodyErrorHandler(limit: string) {
  return (error: BodyParserError, _req: Request, res: Response, next: NextFunction): void => {
    if (res.headersSent || typeof error.status !== 'number' || error.status < 400 || error.status >= 500) {
      return next(error);
    }
    if (error.type === 'entity.too.large') {
      res.status(413).json({ statusCode: 413, error: 'Payload Too Large', message: `body must be at most ${limit}` });
    } else if (error.type === 'entity.parse.failed') {
      res.status(400).json({ statusCode: 400, error: 'Bad Request', message: 'body is not valid JSON' });
    } else {
      res.status(error.status).json({ statusCode: error.status, error: 'Bad Request', message: error.message });
    }
  };
}

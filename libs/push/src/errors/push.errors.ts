import { BadRequestException, HttpException, NotFoundException, ServiceUnavailableException } from '@nestjs/common';

/** Machine-readable codes carried by every push error (`error.code`, and `code` in the HTTP body). */
export type PushErrorCode = 'invalid_argument' | 'client_not_found' | 'engine_unavailable';

/**
 * Errors are Nest `HttpException`s so that a controller which lets one escape answers with the right status
 * and a JSON body (`{statusCode, error, message, code}`) without any mapping code of its own.
 */
function body(statusCode: number, error: string, message: string, code: PushErrorCode) {
  return { statusCode, error, message, code };
}

/** An argument is malformed: a bad client_id, an empty or over-long uid/group, a non-object session, … (400). */
export class PushInvalidArgumentError extends BadRequestException {
  readonly code = 'invalid_argument' as const;
  constructor(message: string) {
    super(body(400, 'Bad Request', message, 'invalid_argument'));
  }
}

/** The client_id is well-formed but no live connection has it (never existed, or already closed) (404). */
export class PushClientNotFoundError extends NotFoundException {
  readonly code = 'client_not_found' as const;
  constructor(readonly clientId: string) {
    super(body(404, 'Not Found', `client_id ${clientId} is not connected`, 'client_not_found'));
  }
}

/**
 * The engine cannot reach its backend (e.g. Redis is down) (503). Nothing changed in the cluster; for a send,
 * `delivered` tells how many connections of this node received it before the cluster part failed.
 */
export class PushEngineUnavailableError extends ServiceUnavailableException {
  readonly code = 'engine_unavailable' as const;
  /** Local deliveries made before the failure (sends only). */
  readonly delivered: number | undefined;
  constructor(message: string, options?: { cause?: unknown; delivered?: number }) {
    const delivered = options?.delivered;
    super(
      { ...body(503, 'Service Unavailable', message, 'engine_unavailable'), ...(delivered === undefined ? {} : { delivered }) },
      { cause: options?.cause },
    );
    this.delivered = delivered;
  }
}

/** True for any error raised by the push module. */
export function isPushError(
  error: unknown,
): error is PushInvalidArgumentError | PushClientNotFoundError | PushEngineUnavailableError {
  return error instanceof HttpException && typeof (error as { code?: unknown }).code === 'string';
}

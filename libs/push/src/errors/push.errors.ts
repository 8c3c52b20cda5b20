import {
  BadRequestException,
  HttpException,
  HttpStatus,
  NotFoundException,
  ServiceUnavailableException,
} from '@nestjs/common';

/** Machine-readable codes carried by every push error (`error.code`, and `code` in the HTTP body). */
export type PushErrorCode = 'invalid_argument' | 'client_not_found' | 'engine_unavailable' | PushLimitCode;

/** Which bound a refused call hit. */
export type PushLimitCode = 'too_many_groups' | 'session_too_large' | 'fanout_queue_full';

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
 * The engine cannot reach its backend (e.g. Redis is down) (503). For a send, `delivered` tells how many connections
 * received it all the same: this node's, plus, for a send to several uids or client_ids of which only some could be
 * published (one shard of a Redis Cluster down), those the index counts behind the ones that were.
 */
export class PushEngineUnavailableError extends ServiceUnavailableException {
  readonly code = 'engine_unavailable' as const;
  /** Deliveries made despite the failure (sends only): this node's, and those of the targets that were published. */
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

const LIMIT_STATUS: Record<PushLimitCode, [number, string]> = {
  // The connection's state, not the request, is what conflicts: leaving a group makes the same call succeed.
  too_many_groups: [HttpStatus.CONFLICT, 'Conflict'],
  session_too_large: [HttpStatus.PAYLOAD_TOO_LARGE, 'Payload Too Large'],
  // This node is overloaded right now; the same send may succeed a moment later.
  fanout_queue_full: [HttpStatus.SERVICE_UNAVAILABLE, 'Service Unavailable'],
};

/** True for the `code` of a `PushLimitExceededError` (a reply from another node carries it as a string). */
export function isPushLimitCode(code: unknown): code is PushLimitCode {
  return typeof code === 'string' && Object.prototype.hasOwnProperty.call(LIMIT_STATUS, code);
}

/**
 * A call was refused because it would pass one of the module's bounds (`maxGroupsPerConnection` → 409,
 * `maxSessionBytes` → 413, `maxFanoutQueue` → 503). Nothing changed; `limit` is the bound that applies.
 */
export class PushLimitExceededError extends HttpException {
  constructor(
    readonly code: PushLimitCode,
    message: string,
    readonly limit: number,
  ) {
    const [status, error] = LIMIT_STATUS[code];
    super({ ...body(status, error, message, code), limit }, status);
  }
}

/** True for any error raised by the push module. */
export function isPushError(
  error: unknown,
): error is PushInvalidArgumentError | PushClientNotFoundError | PushEngineUnavailableError | PushLimitExceededError {
  return error instanceof HttpException && typeof (error as { code?: unknown }).code === 'string';
}

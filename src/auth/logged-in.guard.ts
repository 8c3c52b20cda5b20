import { CanActivate, ExecutionContext, Injectable, UnauthorizedException } from '@nestjs/common';
import type { IncomingHttpHeaders } from 'node:http';
import { LoginCookie } from './login-cookie';

/** A request (Express or Fastify) that passed `LoggedInGuard`. */
export interface AuthenticatedRequest {
  headers: IncomingHttpHeaders;
  /** The logged-in uid, set by the guard. */
  uid: string;
}

/**
 * The demo's stand-in for a real authentication guard: it trusts the signed login cookie. Replace it with your
 * own guard (JWT, session, passport…) that sets `request.uid`; nothing else in the app changes.
 */
@Injectable()
export class LoggedInGuard implements CanActivate {
  constructor(private readonly cookie: LoginCookie) {}

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const uid = this.cookie.read(request.headers.cookie);
    if (uid === null) {
      throw new UnauthorizedException({
        statusCode: 401,
        error: 'Unauthorized',
        message: 'log in first (POST /login)',
      });
    }
    request.uid = uid;
    return true;
  }
}

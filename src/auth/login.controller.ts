import { Body, Controller, Get, HttpCode, Post, Req, Res } from '@nestjs/common';
import { serialize } from 'cookie';
import type { CookieOptions, Request } from 'express';
import type { TLSSocket } from 'node:tls';
import { asBody, requiredString } from '../http/body-fields';
import { LOGIN_COOKIE, MAX_UID_LENGTH } from './auth.constants';
import { LoginCookie } from './login-cookie';

/**
 * Demo login: whoever posts a uid is that user. It exists so the example can show the bind flow; put your real
 * login (and a real guard in place of `LoggedInGuard`) in its place.
 */
@Controller()
export class LoginController {
  constructor(private readonly cookie: LoginCookie) {}

  /**
   * `POST /login {uid}` sets the signed, HttpOnly login cookie: it expires after `LOGIN_TTL_SECONDS` (signed into
   * the value and sent as Max-Age) and is Secure over https (or always with `COOKIE_SECURE=on`).
   */
  @Post('login')
  @HttpCode(200)
  login(@Body() raw: unknown, @Req() req: Request, @Res({ passthrough: true }) res: CookieResponse): { uid: string } {
    const uid = requiredString(asBody(raw), 'uid', MAX_UID_LENGTH);
    setCookie(res, LOGIN_COOKIE, this.cookie.sign(uid), this.cookie.attributes(isTls(req)));
    return { uid };
  }

  /**
   * `POST /logout` clears the login cookie in this browser. A copy of it taken earlier stays valid until its signed
   * expiry (see `LoginCookie`).
   */
  @Post('logout')
  @HttpCode(200)
  logout(@Req() req: Request, @Res({ passthrough: true }) res: CookieResponse): { uid: null } {
    const { maxAge: _maxAge, ...attributes } = this.cookie.attributes(isTls(req));
    setCookie(res, LOGIN_COOKIE, '', { ...attributes, expires: new Date(1) }); // what Express's res.clearCookie sends
    return { uid: null };
  }

  /** `GET /me` tells the page who is logged in (`{"uid": null}` when nobody). */
  @Get('me')
  me(@Req() req: Request): { uid: string | null } {
    return { uid: this.cookie.read(req.headers.cookie) };
  }
}

/** The response of either HTTP platform: Express's `res.header` and Fastify's `reply.header` both set a header. */
interface CookieResponse {
  header(name: string, value: string): unknown;
}

/** Express's `req.secure` without a trusted proxy, on either platform: TLS on this socket. */
function isTls(req: { socket: unknown }): boolean {
  return (req.socket as TLSSocket | undefined)?.encrypted === true;
}

/**
 * Sets a cookie as Express's `res.cookie` does (`maxAge` in milliseconds becomes Max-Age in seconds plus Expires;
 * Path defaults to `/`), on either platform.
 */
function setCookie(res: CookieResponse, name: string, value: string, options: CookieOptions): void {
  const { maxAge, path, expires, domain, httpOnly, secure, sameSite } = options;
  res.header(
    'Set-Cookie',
    serialize(name, value, {
      ...(maxAge != null ? { maxAge: Math.floor(maxAge / 1000), expires: new Date(Date.now() + maxAge) } : { expires }),
      path: path ?? '/',
      domain,
      httpOnly,
      secure,
      sameSite,
    }),
  );
}

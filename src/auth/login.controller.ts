import { Body, Controller, Get, HttpCode, Post, Req, Res } from '@nestjs/common';
import type { IncomingHttpHeaders } from 'node:http';
import { LoginDto } from './dto/login.dto';
import { LoginCookie } from './login-cookie';

/** What this controller reads of a request; Express's Request and Fastify's FastifyRequest both have it. */
interface PlatformRequest {
  /** `'https'` when the request came over TLS (behind a proxy, as the platform's trust-proxy setting decides). */
  protocol: string;
  headers: IncomingHttpHeaders;
}

/** What this controller writes on a response; Express's Response and Fastify's FastifyReply both have it. */
interface PlatformResponse {
  header(name: string, value: string): unknown;
}

/**
 * Demo login: whoever posts a uid is that user. It exists so the example can show the bind flow; put your real
 * login (and a real guard in place of `LoggedInGuard`) in its place. It uses nothing Express-only (no
 * `res.cookie`, `req.secure`), so it runs on either HTTP platform.
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
  login(
    @Body() { uid }: LoginDto,
    @Req() req: PlatformRequest,
    @Res({ passthrough: true }) res: PlatformResponse,
  ): { uid: string } {
    res.header('Set-Cookie', this.cookie.loginHeader(uid, req.protocol === 'https'));
    return { uid };
  }

  /**
   * `POST /logout` clears the login cookie in this browser. A copy of it taken earlier stays valid until its signed
   * expiry (see `LoginCookie`).
   */
  @Post('logout')
  @HttpCode(200)
  logout(@Req() req: PlatformRequest, @Res({ passthrough: true }) res: PlatformResponse): { uid: null } {
    res.header('Set-Cookie', this.cookie.logoutHeader(req.protocol === 'https'));
    return { uid: null };
  }

  /** `GET /me` tells the page who is logged in (`{"uid": null}` when nobody). */
  @Get('me')
  me(@Req() req: PlatformRequest): { uid: string | null } {
    return { uid: this.cookie.read(req.headers.cookie) };
  }
}

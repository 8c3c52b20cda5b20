import { Body, Controller, Get, HttpCode, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
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
  login(@Body() raw: unknown, @Req() req: Request, @Res({ passthrough: true }) res: Response): { uid: string } {
    const uid = requiredString(asBody(raw), 'uid', MAX_UID_LENGTH);
    res.cookie(LOGIN_COOKIE, this.cookie.sign(uid), this.cookie.attributes(req.secure));
    return { uid };
  }

  /**
   * `POST /logout` clears the login cookie in this browser. A copy of it taken earlier stays valid until its signed
   * expiry (see `LoginCookie`).
   */
  @Post('logout')
  @HttpCode(200)
  logout(@Req() req: Request, @Res({ passthrough: true }) res: Response): { uid: null } {
    const { maxAge: _maxAge, ...attributes } = this.cookie.attributes(req.secure);
    res.clearCookie(LOGIN_COOKIE, attributes);
    return { uid: null };
  }

  /** `GET /me` tells the page who is logged in (`{"uid": null}` when nobody). */
  @Get('me')
  me(@Req() req: Request): { uid: string | null } {
    return { uid: this.cookie.read(req.headers.cookie) };
  }
}

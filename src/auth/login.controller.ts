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

  /** `POST /login {uid}` sets the signed, HttpOnly login cookie. */
  @Post('login')
  @HttpCode(200)
  login(@Body() raw: unknown, @Res({ passthrough: true }) res: Response): { uid: string } {
    const uid = requiredString(asBody(raw), 'uid', MAX_UID_LENGTH);
    res.cookie(LOGIN_COOKIE, this.cookie.sign(uid), { httpOnly: true, sameSite: 'lax', path: '/' });
    return { uid };
  }

  /** `POST /logout` clears the login cookie. */
  @Post('logout')
  @HttpCode(200)
  logout(@Res({ passthrough: true }) res: Response): { uid: null } {
    res.clearCookie(LOGIN_COOKIE, { path: '/' });
    return { uid: null };
  }

  /** `GET /me` tells the page who is logged in (`{"uid": null}` when nobody). */
  @Get('me')
  me(@Req() req: Request): { uid: string | null } {
    return { uid: this.cookie.read(req.headers.cookie) };
  }
}

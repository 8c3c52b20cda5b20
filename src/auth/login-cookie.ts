import { createHmac, timingSafeEqual } from 'node:crypto';
import { parse as parseCookies } from 'cookie';
import { LOGIN_COOKIE } from './auth.constants';

/** How many verified cookie values are remembered (one per active browser, roughly). */
const CACHE_SIZE = 10_000;

/**
 * Signs and verifies the demo login cookie. The format is the one Express's `res.cookie(…, { signed: true })` and
 * cookie-parser use (`s:<value>.<base64 HMAC-SHA256>`), so cookies stay valid across versions of the app; it is
 * done here rather than by cookie-parser because every push request carries the cookie, and remembering the
 * values already verified saves an HMAC (three with cookie-parser) per request. A cached entry is exactly a
 * string once proven authentic with this secret, so caching weakens nothing.
 */
export class LoginCookie {
  private readonly verified = new Map<string, string>();

  constructor(private readonly secret: string) {}

  /** The cookie value for `uid`. */
  sign(uid: string): string {
    return `s:${uid}.${this.mac(uid)}`;
  }

  /** The uid of a valid login cookie in this Cookie header, or null (absent, unsigned or forged). */
  read(cookieHeader: string | undefined): string | null {
    if (!cookieHeader) return null;
    const raw = parseCookies(cookieHeader)[LOGIN_COOKIE];
    if (!raw) return null;
    const known = this.verified.get(raw);
    if (known !== undefined) return known;
    const uid = this.verify(raw);
    if (uid !== null) {
      if (this.verified.size >= CACHE_SIZE) this.verified.delete(this.verified.keys().next().value as string);
      this.verified.set(raw, uid);
    }
    return uid;
  }

  private verify(raw: string): string | null {
    if (!raw.startsWith('s:')) return null;
    const dot = raw.lastIndexOf('.');
    if (dot < 3) return null;
    const uid = raw.slice(2, dot);
    const given = Buffer.from(raw.slice(dot + 1));
    const expected = Buffer.from(this.mac(uid));
    return given.length === expected.length && timingSafeEqual(given, expected) && uid.length > 0 ? uid : null;
  }

  private mac(value: string): string {
    return createHmac('sha256', this.secret).update(value).digest('base64').replace(/=+$/, '');
  }
}

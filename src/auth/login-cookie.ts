import { createHmac, timingSafeEqual } from 'node:crypto';
import { parse as parseCookies } from 'cookie';
import type { CookieOptions } from 'express';
import { LOGIN_COOKIE } from './auth.constants';

/** How many verified cookie values are remembered (one per active browser, roughly). */
const CACHE_SIZE = 10_000;

/** Lifetime of a login when `LOGIN_TTL_SECONDS` is not set: 24 hours. */
export const DEFAULT_LOGIN_TTL_SECONDS = 24 * 60 * 60;

/** Largest expiry accepted in a cookie (15 decimal digits of Unix seconds: far past any real date, a safe integer). */
const EXPIRY = /^(0|[1-9]\d{0,14})$/;

/**
 * When the cookie gets the `Secure` attribute: `'auto'` when the request itself arrived over https (Express's
 * `req.secure`, i.e. TLS on this socket; behind a TLS-terminating proxy use `true`), `true` always, `false` never.
 */
export type CookieSecureMode = boolean | 'auto';

export interface LoginCookieOptions {
  /** Lifetime of a login, in whole seconds (signed into the cookie and sent as its Max-Age). */
  ttlSeconds?: number;
  /** See {@link CookieSecureMode}. Default `'auto'`. */
  secure?: CookieSecureMode;
  /** Clock in milliseconds (tests). */
  now?: () => number;
}

interface Verified {
  uid: string;
  /** Unix seconds after which the cookie is refused. */
  expiresAt: number;
}

/**
 * Signs and verifies the demo login cookie.
 *
 * Format: `s:<expiresAt>.<uid>.<mac>`, the one Express's `res.cookie(…, { signed: true })` and cookie-parser use
 * (`s:<value>.<base64 HMAC-SHA256 of value>`), with the expiry (Unix seconds) inside the signed value, so it cannot
 * be extended without the secret: a copied cookie replays for at most the login's lifetime, not forever. The
 * browser is told the same lifetime (Max-Age). A cookie signed by an earlier version of the app (`s:<uid>.<mac>`,
 * no expiry) is refused, unless its uid itself happened to read `<digits>.<rest>`; changing `COOKIE_SECRET` when
 * upgrading drops every earlier cookie.
 *
 * Logout only clears the cookie in that browser: a copy taken before stays valid until its expiry (there is no
 * server-side session to revoke, and a per-process deny-list would not hold across a cluster).
 *
 * It is done here rather than by cookie-parser because every push request carries the cookie, and remembering the
 * values already verified saves an HMAC (three with cookie-parser) per request. A cached entry is exactly a string
 * once proven authentic with this secret, and its expiry is checked again on every read, so caching weakens nothing.
 */
export class LoginCookie {
  /** Lifetime of a login, in seconds. */
  readonly ttlSeconds: number;
  private readonly secure: CookieSecureMode;
  private readonly now: () => number;
  private readonly verified = new Map<string, Verified>();

  constructor(
    private readonly secret: string,
    options: LoginCookieOptions = {},
  ) {
    this.ttlSeconds = options.ttlSeconds ?? DEFAULT_LOGIN_TTL_SECONDS;
    if (!Number.isSafeInteger(this.ttlSeconds) || this.ttlSeconds < 1) {
      throw new Error(`LoginCookie: ttlSeconds must be a positive whole number, got ${this.ttlSeconds}`);
    }
    this.secure = options.secure ?? 'auto';
    this.now = options.now ?? Date.now;
  }

  /**
   * The cookie value for `uid`, valid until `expiresAt` (Unix seconds; default: `ttlSeconds` from now, rounded up to
   * the next second, so it never lives shorter than its Max-Age).
   */
  sign(uid: string, expiresAt: number = Math.ceil(this.now() / 1000) + this.ttlSeconds): string {
    const value = `${expiresAt}.${uid}`;
    return `s:${value}.${this.mac(value)}`;
  }

  /** The uid of a valid, unexpired login cookie in this Cookie header, or null (absent, unsigned, forged, expired). */
  read(cookieHeader: string | undefined): string | null {
    if (!cookieHeader) return null;
    const raw = parseCookies(cookieHeader)[LOGIN_COOKIE];
    if (!raw) return null;
    let entry = this.verified.get(raw);
    if (entry === undefined) {
      const verified = this.verify(raw);
      if (verified === null) return null;
      if (this.verified.size >= CACHE_SIZE) this.verified.delete(this.verified.keys().next().value as string);
      this.verified.set(raw, verified);
      entry = verified;
    }
    if (this.now() >= entry.expiresAt * 1000) {
      this.verified.delete(raw);
      return null;
    }
    return entry.uid;
  }

  /** Attributes of the login cookie set on a response to a request that was (`https`) or was not over TLS. */
  attributes(https: boolean): CookieOptions {
    return {
      httpOnly: true,
      sameSite: 'lax',
      path: '/',
      secure: this.secure === 'auto' ? https : this.secure,
      maxAge: this.ttlSeconds * 1000, // Express wants milliseconds; it sends Max-Age in seconds (and Expires)
    };
  }

  private verify(raw: string): Verified | null {
    if (!raw.startsWith('s:')) return null;
    const macDot = raw.lastIndexOf('.');
    if (macDot < 3) return null;
    const value = raw.slice(2, macDot);
    const given = Buffer.from(raw.slice(macDot + 1));
    const expected = Buffer.from(this.mac(value));
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
    const expiryDot = value.indexOf('.');
    if (expiryDot < 0) return null;
    const expiry = value.slice(0, expiryDot);
    const uid = value.slice(expiryDot + 1);
    if (!EXPIRY.test(expiry) || uid.length === 0) return null;
    return { uid, expiresAt: Number(expiry) };
  }

  private mac(value: string): string {
    return createHmac('sha256', this.secret).update(value).digest('base64').replace(/=+$/, '');
  }
}

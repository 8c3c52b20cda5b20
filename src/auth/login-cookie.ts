import { parse as parseCookies, serialize as serializeCookie, type SerializeOptions } from 'cookie';
import { sign as signValue, unsign as unsignValue } from 'cookie-signature';
import { LOGIN_COOKIE } from './auth.constants';

/** How many verified cookie values are remembered (one per active browser, roughly). */
const CACHE_SIZE = 10_000;

/** Lifetime of a login when `LOGIN_TTL_SECONDS` is not set: 24 hours. */
export const DEFAULT_LOGIN_TTL_SECONDS = 24 * 60 * 60;

/** Largest expiry accepted in a cookie (15 decimal digits of Unix seconds: far past any real date, a safe integer). */
const EXPIRY = /^(0|[1-9]\d{0,14})$/;

/**
 * When the cookie gets the `Secure` attribute: `'auto'` when the request itself arrived over https (`req.protocol`
 * on Express and Fastify alike, i.e. TLS on this socket; behind a TLS-terminating proxy use `true`), `true` always,
 * `false` never.
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
 * Signs and verifies the demo login cookie, and writes its Set-Cookie lines.
 *
 * Format: `s:<expiresAt>.<uid>.<mac>`, the one Express's `res.cookie(…, { signed: true })` and cookie-parser use
 * (`s:<value>.<base64 HMAC-SHA256 of value>`, made and checked in constant time by `cookie-signature`, the library
 * both of them use), with the expiry (Unix seconds) inside the signed value, so it cannot be extended without the
 * secret: a copied cookie replays for at most the login's lifetime, not forever. The browser is told the same
 * lifetime (Max-Age). A cookie signed by an earlier version of the app (`s:<uid>.<mac>`,
 * no expiry) is refused, unless its uid itself happened to read `<digits>.<rest>`; changing `COOKIE_SECRET` when
 * upgrading drops every earlier cookie.
 *
 * Logout only clears the cookie in that browser: a copy taken before stays valid until its expiry (there is no
 * server-side session to revoke, and a per-process deny-list would not hold across a cluster).
 *
 * Verified values are remembered (a bounded map, oldest out first) because every push request carries the cookie,
 * and a cache hit skips the HMAC; this is why cookie-parser itself is not used (it verifies every signed cookie on
 * every request, before any route runs). A cached entry is exactly a string once proven authentic with this
 * secret, and its expiry is checked again on every read, so caching weakens nothing.
 *
 * The Set-Cookie lines are serialised with `cookie` (the package Express's `res.cookie` serialises with: same
 * attributes, same order) and set with `header()`, so the controller needs nothing Express-only and runs on Fastify too.
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
    return `s:${signValue(`${expiresAt}.${uid}`, this.secret)}`;
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

  /**
   * The Set-Cookie header that logs `uid` in, on a response to a request that was (`https`) or was not over TLS:
   * `push_demo_uid=<signed>; Max-Age=<ttl>; Path=/; Expires=<now + ttl>; HttpOnly[; Secure]; SameSite=Lax`.
   */
  loginHeader(uid: string, https: boolean): string {
    return serializeCookie(LOGIN_COOKIE, this.sign(uid), {
      ...this.attributes(https),
      maxAge: this.ttlSeconds,
      expires: new Date(this.now() + this.ttlSeconds * 1000),
    });
  }

  /**
   * The Set-Cookie header that clears the login cookie in the browser (empty value, expired in 1970), with the
   * same Path, HttpOnly, Secure and SameSite as {@link loginHeader} so the browser replaces the same cookie.
   */
  logoutHeader(https: boolean): string {
    return serializeCookie(LOGIN_COOKIE, '', { ...this.attributes(https), expires: new Date(1) });
  }

  /** Attributes both lines share. */
  private attributes(https: boolean): SerializeOptions {
    return { path: '/', httpOnly: true, secure: this.secure === 'auto' ? https : this.secure, sameSite: 'lax' };
  }

  private verify(raw: string): Verified | null {
    if (!raw.startsWith('s:')) return null;
    const value = unsignValue(raw.slice(2), this.secret);
    if (value === false) return null;
    const expiryDot = value.indexOf('.');
    if (expiryDot < 0) return null;
    const expiry = value.slice(0, expiryDot);
    const uid = value.slice(expiryDot + 1);
    if (!EXPIRY.test(expiry) || uid.length === 0) return null;
    return { uid, expiresAt: Number(expiry) };
  }
}

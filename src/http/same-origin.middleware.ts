import { originMatcher } from 'nest-push-channel';
import type { NextFunction, Request, Response } from 'express';

/** Methods that never change state here, so they are served whatever site asks (no CORS header lets it read). */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** A Host header as a browser sends it: a host name, IPv4 or bracketed IPv6, and an optional port. */
const HOST_HEADER = /^(?:[a-z0-9._~-]+|\[[0-9a-f:.]+\])(?::\d{1,5})?$/i;

/** Origins trusted beside the request's own: a list (as `PUSH_ALLOWED_ORIGINS`) or a predicate. */
export type TrustedOrigins = readonly string[] | ((origin: string) => boolean) | undefined;

/**
 * Refuses cross-site state-changing requests from browsers (CSRF) with a JSON **403** `cross_site_request`.
 *
 * Why: the login is a cookie, and a browser attaches it to a form another site submits to this app. Without this
 * check a page on `https://evil.example` could auto-post `client_id=<its own socket>` to `/bind` and have the
 * victim's uid bound to the attacker's socket (every push for the victim then reaches the attacker), or post to
 * `/login`, `/logout`, `/send`… in the victim's name. `SameSite=Lax` is not enough: a sibling subdomain is
 * "same-site" and gets the cookie, and older browsers ignore SameSite. Form bodies stay accepted (GatewayWorker-style
 * pages bind with jQuery's `$.post`), so the decision is made on where the request comes from, not on its content
 * type; non-browser clients (no `Origin`, no `Sec-Fetch-Site`) keep working.
 *
 * The rule, for every method but GET, HEAD and OPTIONS, decided before the body is read:
 * - `Origin` present: allowed only when it is the request's own origin (its host:port equals the `Host` header,
 *   default ports normalised) or a trusted origin (`PUSH_ALLOWED_ORIGINS`, the list the WebSocket upgrade already
 *   uses; http(s) origins compare in serialised form, other schemes verbatim). `Origin: null` (sandboxed frames,
 *   `file:` pages, cross-origin redirects) and a malformed Origin are refused, even when listed.
 * - no `Origin`: refused when `Sec-Fetch-Site` is `cross-site` or `same-site` (a sibling subdomain); allowed when it
 *   is `same-origin` or `none` (the user's own action) or absent. A request with neither header is not from a
 *   current browser (curl, server-to-server tools) and is allowed.
 *
 * Limit: a browser old enough to send neither `Origin` nor `Sec-Fetch-Site` on a form post (roughly, before 2020)
 * looks like curl and is let through; SameSite=Lax on the cookie still covers those that honour it. Behind a
 * reverse proxy that rewrites `Host`, list the public origin in `PUSH_ALLOWED_ORIGINS`.
 */
export function sameOriginOnly(trusted: TrustedOrigins) {
  const isTrusted = trustedPredicate(trusted);
  return (req: Request, res: Response, next: NextFunction): void => {
    if (SAFE_METHODS.has(req.method)) return next();
    const origin = req.headers.origin;
    const fetchSite = req.headers['sec-fetch-site'];
    let refusal: string | null = null;
    if (origin !== undefined) {
      if (!isSameOrigin(origin, req.headers.host) && !(origin !== 'null' && isTrusted(origin))) {
        refusal = `origin ${origin} may not ${req.method} ${req.path}: not this site, not in PUSH_ALLOWED_ORIGINS`;
      }
    } else if (fetchSite === 'cross-site' || fetchSite === 'same-site') {
      refusal = `a ${fetchSite} ${req.method} ${req.path} is refused (Sec-Fetch-Site: ${fetchSite}, no Origin)`;
    }
    if (refusal === null) return next();
    res.status(403).json({ statusCode: 403, error: 'Forbidden', code: 'cross_site_request', message: refusal });
  };
}

/**
 * True when `origin` is an http(s) origin, exactly as browsers serialise it (`scheme://host[:port]`), whose
 * host:port is the `Host` the request was sent to.
 */
function isSameOrigin(origin: string, host: string | undefined): boolean {
  if (!host || !HOST_HEADER.test(host)) return false;
  try {
    const url = new URL(origin);
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.origin !== origin) return false;
    // Host parsed with the Origin's scheme, so a default port on either side compares equal to none.
    return new URL(`${url.protocol}//${host}`).host === url.host;
  } catch {
    return false;
  }
}

function trustedPredicate(trusted: TrustedOrigins): (origin: string) => boolean {
  if (trusted === undefined) return () => false;
  if (typeof trusted === 'function') return trusted;
  // The same comparison as the gateway's allowedOrigins; a listed "null" never admits `Origin: null`.
  const matches = originMatcher(trusted.filter((o) => o.trim().toLowerCase() !== 'null'));
  return (origin) => matches(origin);
}

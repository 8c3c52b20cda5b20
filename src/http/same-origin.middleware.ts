import { originMatcher } from 'nest-push-channel';
import type { NextFunction, Request, Response } from 'express';
import type { IncomingHttpHeaders } from 'node:http';

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
 * This is the Express middleware; on Fastify the same decision (`crossSiteRefusal`) runs as an `onRequest` hook, also
 * before the body is read, with the same 403.
 *
 * Limit: a browser old enough to send neither `Origin` nor `Sec-Fetch-Site` on a form post (roughly, before 2020)
 * looks like curl and is let through; SameSite=Lax on the cookie still covers those that honour it. Behind a
 * reverse proxy that rewrites `Host`, list the public origin in `PUSH_ALLOWED_ORIGINS`.
 */
export function sameOriginOnly(trusted: TrustedOrigins) {
  const refusal = crossSiteRefusal(trusted);
  return (req: Request, res: Response, next: NextFunction): void => {
    const reason = refusal(req.method, req.url, req.headers);
    if (reason === null) return next();
    res.status(403).json(crossSiteBody(reason));
  };
}

/**
 * The decision of `sameOriginOnly`, on what every platform has before reading a body (method, request target,
 * headers): null to let the request through, else why it is refused. The Express middleware above and the Fastify
 * `onRequest` hook (src/http/fastify-platform.ts) both answer with it.
 */
export function crossSiteRefusal(trusted: TrustedOrigins) {
  const isTrusted = trustedPredicate(trusted);
  return (method: string | undefined, url: string | undefined, headers: IncomingHttpHeaders): string | null => {
    if (method === undefined || SAFE_METHODS.has(method)) return null;
    const origin = headers.origin;
    const fetchSite = headers['sec-fetch-site'];
    if (origin !== undefined) {
      if (!isSameOrigin(origin, headers.host) && !(origin !== 'null' && isTrusted(origin))) {
        return `origin ${origin} may not ${method} ${pathOf(url)}: not this site, not in PUSH_ALLOWED_ORIGINS`;
      }
    } else if (fetchSite === 'cross-site' || fetchSite === 'same-site') {
      return `a ${fetchSite} ${method} ${pathOf(url)} is refused (Sec-Fetch-Site: ${fetchSite}, no Origin)`;
    }
    return null;
  };
}

/** The JSON 403 of a refused cross-site request. */
export function crossSiteBody(reason: string) {
  return { statusCode: 403, error: 'Forbidden', code: 'cross_site_request', message: reason };
}

/** The path of a request target, without its query (what Express calls `req.path`). */
function pathOf(url: string | undefined): string {
  const target = url ?? '/';
  const query = target.indexOf('?');
  return query === -1 ? target : target.slice(0, query);
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

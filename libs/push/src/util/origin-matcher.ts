/**
 * A predicate that tells whether an `Origin` header is in `allowed`: the gateway's `allowedOrigins` check, exported
 * so that an app checks its own state-changing HTTP requests against the very same list. http(s) origins compare in
 * their serialised form (lower-case scheme and host, no default port, no trailing slash); any other scheme
 * (`capacitor://localhost`) verbatim, trimmed and lower-cased.
 */
export function originMatcher(allowed: readonly string[]): (origin: string) => boolean {
  const set = new Set(allowed.map(normaliseOrigin));
  return (origin) => set.has(normaliseOrigin(origin));
}

function normaliseOrigin(origin: string): string {
  // URL serialises every non-http(s) origin (capacitor://, chrome-extension://, file://) as the opaque "null",
  // which would make them all equal to each other and to the literal `Origin: null` of sandboxed pages:
  // those are compared verbatim instead.
  try {
    const serialised = new URL(origin).origin;
    if (serialised !== 'null') return serialised;
  } catch {
    // not a URL: compare verbatim
  }
  return origin.trim().toLowerCase();
}

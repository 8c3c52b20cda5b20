/**
 * Query parameters that carry credentials: ioredis turns a URL's query into connection options, so
 * `redis://host?password=…` is a working way to give a password.
 */
const SECRET_PARAMS = /^(password|pass|username|user)$/i;

/**
 * A connection URL fit for a log line: its user and password (`redis://user:secret@host`, or `?password=` /
 * `?username=` in the query) become `***`, the rest (scheme, host, port, database, other query parameters) is kept.
 * A string that is not a URL is not echoed at all, since it may be a secret pasted in the wrong place.
 */
export function redactUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return '(unparseable URL)';
  }
  const query = redactQuery(parsed.search);
  if (parsed.username === '' && parsed.password === '' && query === parsed.search) return url;
  // Rebuilt from the parsed parts, so a password holding '@', ':' or '%' leaks no piece of itself.
  const auth = parsed.username === '' && parsed.password === '' ? '' : '***@';
  return `${parsed.protocol}//${auth}${parsed.host}${parsed.pathname}${query}${parsed.hash}`;
}

/** `search` with the value of every credential parameter replaced by `***`, the other parameters as written. */
function redactQuery(search: string): string {
  if (search.length <= 1) return search;
  const parts = search
    .slice(1)
    .split('&')
    .map((part) => {
      const eq = part.indexOf('=');
      const name = eq === -1 ? part : part.slice(0, eq);
      return SECRET_PARAMS.test(decodeURIComponentSafe(name)) ? `${name}=***` : part;
    });
  return `?${parts.join('&')}`;
}

function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return text;
  }
}

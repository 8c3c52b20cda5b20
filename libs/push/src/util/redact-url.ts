/**
 * A connection URL fit for a log line: its user and password (`redis://user:secret@host`) become `***`, the rest
 * (scheme, host, port, database, query) is kept. A string that is not a URL is not echoed at all, since it may be a
 * secret pasted in the wrong place.
 */
export function redactUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return '(unparseable URL)';
  }
  if (parsed.username === '' && parsed.password === '') return url;
  // Rebuilt from the parsed parts, so a password holding '@', ':' or '%' leaks no piece of itself.
  return `${parsed.protocol}//***@${parsed.host}${parsed.pathname}${parsed.search}${parsed.hash}`;
}

/*
 * What travels on a pub/sub channel: a JSON header, a newline, then the message bytes untouched (text or binary).
 * JSON.stringify never emits a raw newline, so the first 0x0A always ends the header, and the payload is framed
 * once for every node that receives it.
 */

/** Header of a routed push or command. */
export interface WireHeader {
  /** Origin node id (a node skips what it published itself: it has already delivered locally). */
  o: string;
  /** Operation. */
  op: string;
  /** 1 when the body is a binary frame. */
  b?: 1;
  /** client_ids to skip. */
  x?: string[];
  /** Request id of a call that expects a reply. */
  id?: number;
  [key: string]: unknown;
}

const NEWLINE = 0x0a;

/** Joins a header and an optional body into one payload. */
export function encodeWire(header: WireHeader, body?: Buffer): Buffer {
  const head = Buffer.from(JSON.stringify(header) + '\n', 'utf8');
  return body ? Buffer.concat([head, body]) : head;
}

/** Splits a payload into its header and body. */
export function decodeWire(payload: Buffer): { header: WireHeader; body: Buffer } {
  const end = payload.indexOf(NEWLINE);
  if (end < 0) throw new Error('malformed cluster payload: no header');
  const header = JSON.parse(payload.subarray(0, end).toString('utf8')) as WireHeader;
  return { header, body: payload.subarray(end + 1) };
}

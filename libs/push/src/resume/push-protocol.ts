import { formatOffset, parseOffset, type HistoryOffset } from '../history/history-offset';
import type { JsonValue } from '../interfaces/push-message.interface';
import { EncodedMessage, type EnvelopeEntry } from '../message/encoded-message';
import { isPlainObject } from '../util/deep-merge';

/*
 * The resumable protocol, negotiated with the WebSocket subprotocol `nest-push.v1` (only the official client asks for
 * it; a page that asks for nothing keeps the plain protocol: the init frame, then the app's messages as they are).
 *
 * Every frame the server sends on it is a JSON header, optionally followed by a newline and a payload:
 *   control frames   {"type":"welcome",…}  {"type":"hb"}  {"type":"error",…}          (no newline)
 *   message frames   {"type":"msg","key":"g:room1","off":"3f9a2c1b0d4e.17","json":1}\n<payload>
 * A message frame is a text frame when the app pushed text or JSON, a binary frame (header bytes, 0x0A, payload
 * bytes) when it pushed bytes. JSON.stringify never writes a raw newline, so the first one always ends the header.
 * The client's first frame is {"type":"hello"}, or {"type":"hello","resume":"<token>","cursors":{"<key>":"<off>"}}.
 * The README's "Protocol" section is the reference for other clients.
 */

/** The subprotocol the official client asks for. */
export const PUSH_PROTOCOL = 'nest-push.v1';

/** Close codes of the resumable protocol (see the README's close-code table). */
export const PushCloseCode = {
  /** The client's first frame was not a well-formed hello, or it did not come within `resume.helloTimeout`. */
  badHello: 1008,
  /** The node is restarting (a graceful shutdown): resume on another node, or on this one once it is back. */
  serviceRestart: 1012,
  /** The resume could not be decided now (the engine's backend is unavailable): try again with the same token. */
  tryAgainLater: 1013,
  /** Another socket resumed this connection with its token: this one is replaced. Do not reconnect. */
  replaced: 4001,
} as const;

/** Most cursors a hello may carry (a connection has at most `maxGroupsPerConnection` groups, a uid, all, itself). */
export const MAX_HELLO_CURSORS = 256;

/** A client's first frame. */
export interface HelloFrame {
  /** The resume token of the connection to resume; absent for a fresh connection. */
  resume?: string;
  /** The last offset received per history key (only well-formed ones are kept). */
  cursors: Map<string, HistoryOffset>;
}

/** Reads a hello frame; a string says what is wrong with it. */
export function parseHello(frame: unknown): HelloFrame | string {
  if (!isPlainObject(frame) || frame.type !== 'hello') return 'the first frame must be {"type":"hello"}';
  const hello: HelloFrame = { cursors: new Map() };
  if (frame.resume !== undefined) {
    if (typeof frame.resume !== 'string' || frame.resume.length > 256) return 'resume must be a token string';
    hello.resume = frame.resume;
  }
  if (frame.cursors !== undefined) {
    if (!isPlainObject(frame.cursors)) return 'cursors must be an object of key → offset';
    const entries = Object.entries(frame.cursors);
    if (entries.length > MAX_HELLO_CURSORS) return `at most ${MAX_HELLO_CURSORS} cursors`;
    for (const [key, value] of entries) {
      const offset = parseOffset(value);
      if (offset && key.length <= 80) hello.cursors.set(key, offset);
    }
  }
  return hello;
}

/** Why a resume was refused (the welcome's `reason`). */
export type ResumeRefusal =
  /** No resumable connection has that id: the window passed, it closed for good, or it never existed. */
  | 'not_found'
  /** The token's secret does not match (forged, or already used by another resume). */
  | 'refused'
  /** The token is not of the token's shape. */
  | 'malformed';

/** What the welcome frame says. */
export interface Welcome {
  clientId: string;
  token: string;
  /** ms between the server's heartbeats (0: none). */
  heartbeat: number;
  /** ms a dropped connection stays resumable. */
  window: number;
  /** Present when the client asked to resume. */
  resume?: { resumed: true; recovered: boolean; previousClientId: string } | { resumed: false; reason: ResumeRefusal };
}

/** The welcome control frame: the first frame the server sends on the resumable protocol. */
export function welcomeFrame(welcome: Welcome): EncodedMessage {
  const frame: Record<string, JsonValue> = {
    type: 'welcome',
    client_id: welcome.clientId,
    token: welcome.token,
    heartbeat: welcome.heartbeat,
    window: welcome.window,
    resumed: welcome.resume?.resumed === true,
  };
  const resume = welcome.resume;
  if (resume?.resumed) {
    frame.recovered = resume.recovered;
    if (resume.previousClientId !== welcome.clientId) frame.previous_client_id = resume.previousClientId;
  } else if (resume) {
    frame.recovered = false;
    frame.reason = resume.reason;
  }
  return EncodedMessage.encode(frame);
}

/** The heartbeat frame: sent every heartbeat interval; the client library hides it from the app. */
export const HEARTBEAT_FRAME = EncodedMessage.encode({ type: 'hb' });

const NEWLINE = Buffer.from('\n');

/**
 * `message` as resumable connections receive it: a header (with the history entry when there is one) and the
 * payload. Built once per target, whatever the number of recipients.
 */
export function envelopeOf(message: EncodedMessage, entry: EnvelopeEntry | null): EncodedMessage {
  let header = '{"type":"msg"';
  if (entry) header += `,"key":${JSON.stringify(entry.key)},"off":"${formatOffset(entry.offset)}"`;
  if (message.json) header += ',"json":1';
  header += '}';
  const data = Buffer.concat([Buffer.from(header, 'utf8'), NEWLINE, message.data]);
  const envelope = EncodedMessage.fromWire(data, message.binary);
  envelope.entry = entry;
  return envelope;
}

/** `message` with its envelope for one history entry (what engines hand the registry for a target with history). */
export function withEntry(message: EncodedMessage, key: string, offset: HistoryOffset): EncodedMessage {
  return message.withEnvelope(envelopeOf(message, { key, offset }));
}

/** What a resumable connection is written for an app's `message`: its envelope, built without an entry when it has none. */
export function resumableForm(message: EncodedMessage): EncodedMessage {
  return (message.envelope ??= envelopeOf(message, null));
}

import type { IncomingHttpHeaders } from 'node:http';
import type { PushSession } from './push-message.interface';

/** Emitted once a connection is registered and its init frame has been sent. */
export interface PushConnectEvent {
  type: 'connect';
  clientId: string;
  /** The peer's address as the socket saw it (behind a proxy, read `x-forwarded-for` from `headers`). */
  remoteAddress: string | undefined;
  /** Headers of the upgrade request. */
  headers: IncomingHttpHeaders;
  /** Query string of the upgrade URL, parsed. Repeated keys keep their last value. */
  query: Record<string, string>;
  /** Cookies of the upgrade request, parsed (signatures are not checked here: use `authenticate` for that). */
  cookies: Record<string, string>;
  /** The uid bound before init by the `authenticate` hook, if it named one. */
  uid: string | null;
}

/**
 * Emitted for each `{"type":"message","data":…}` frame a client sends, when `inbound` is on.
 * This is the optional two-way path; it never sits on the push path.
 */
export interface PushInboundMessageEvent {
  type: 'message';
  clientId: string;
  /** The uid bound at the moment the frame arrived. */
  uid: string | null;
  /** A copy of the session at the moment the frame arrived. */
  session: PushSession;
  /** The frame's `data` field, as parsed JSON. */
  data: unknown;
}

/** Emitted after a connection has closed and every binding it had has been removed. */
export interface PushCloseEvent {
  type: 'close';
  clientId: string;
  /** The uid it had when it closed (GatewayWorker loses this; we keep it). */
  uid: string | null;
  /** The groups it was in when it closed. */
  groups: string[];
  /** Its session when it closed. */
  session: PushSession;
  /** The WebSocket close code (1006 when the peer vanished, 1013 for a slow consumer, …). */
  code: number;
  /**
   * Who closed it and why: `peer` (the client did), `heartbeat`, `slow-consumer`, `payload-too-large`,
   * `closed-by-server` (closeClient/closeUid), `destroyed` (destroyClient), `shutdown`, `engine-unavailable`, and for
   * a resumable connection that dropped (see `detach`): `resume-expired` (not resumed within `resume.window`). The
   * code is then the one its socket closed with.
   */
  reason: string;
}

/**
 * Emitted when a connection on the resumable protocol (the official client) drops without being closed for good: it
 * keeps its uid, groups and session, and pushes to it are held, until it resumes (`resume`) or `resumableUntil`
 * passes (then `close`, with reason `resume-expired`). Plain connections never detach.
 */
export interface PushDetachEvent {
  type: 'detach';
  clientId: string;
  uid: string | null;
  groups: string[];
  session: PushSession;
  /** The WebSocket close code of the socket that dropped (1006 when it vanished, 1012 for a node restart, …). */
  code: number;
  /** Why the socket dropped: `peer`, `heartbeat`, `slow-consumer`, `shutdown`, … (as in the close event). */
  reason: string;
  /** Until when it may resume (ms since the epoch). */
  resumableUntil: number;
}

/**
 * Emitted on the node where a connection resumed: it has its uid, groups and session back without a bind. When it
 * resumed on another node than the one that held it, it has a new client_id (`previousClientId` is the old one,
 * which answers like a closed connection from now on); on the same node the client_id is kept.
 */
export interface PushResumeEvent {
  type: 'resume';
  clientId: string;
  /** The client_id it had before (equal to `clientId` when it resumed on the node that held it). */
  previousClientId: string;
  uid: string | null;
  groups: string[];
  session: PushSession;
  /**
   * True when every message sent to it while it was away was replayed to it (once, in order); false when the
   * server could not guarantee that (history trimmed, or lost with the engine's backend): the client is told.
   */
  recovered: boolean;
}

/** Any event of the push channel. */
export type PushEvent = PushConnectEvent | PushInboundMessageEvent | PushCloseEvent | PushDetachEvent | PushResumeEvent;

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
   * `closed-by-server` (closeClient/closeUid), `destroyed` (destroyClient), `shutdown`, `engine-unavailable`.
   */
  reason: string;
}

/** Any event of the push channel. */
export type PushEvent = PushConnectEvent | PushInboundMessageEvent | PushCloseEvent;

import type { WebSocket } from 'ws';
import type { PushSession } from '../interfaces/push-message.interface';
import type { WriteQueue } from './connection-writes';
import type { SocketWire } from './socket-writer';

/** Why the server closed a connection (reported in the close event's `reason`; `peer` when the client did). */
export type ServerCloseReason =
  | 'heartbeat'
  | 'slow-consumer'
  | 'closed-by-server'
  | 'destroyed'
  | 'shutdown'
  | 'payload-too-large'
  | 'engine-unavailable';

const EMPTY_SESSION: PushSession = Object.freeze({});

/** One socket held by this process, with the bindings the registry keeps for it. */
export class LocalConnection {
  /** The bound uid, or null. Written only through the registry, which keeps its indexes in step. */
  uid: string | null = null;
  /** The groups it is in. Written only through the registry. */
  readonly groups = new Set<string>();
  /**
   * The session object. Always replaced, never changed in place: the empty default is one frozen object shared by
   * every connection that has no session yet (most of them), which saves an object per socket.
   */
  session: PushSession = EMPTY_SESSION;
  /** Last time (ms) a pong or frame came in; the heartbeat drops the peer when it is too old. */
  lastSeen = Date.now();
  /** Last time (ms) the heartbeat pinged it. */
  lastPing = Date.now();
  /** Whether the engine accepted it: a promise while registering, then the answer (the gateway's bookkeeping). */
  registration: Promise<boolean> | boolean = false;
  /**
   * The socket writer's state for this socket (see `SocketWriter`): undefined until the first write, then its
   * checked fast path, or null when it is written through ws's public API.
   */
  wire: SocketWire | null | undefined = undefined;
  /** Writes to its shared state still running or waiting, in order (cluster engines; see `serialWrite`). */
  writes: WriteQueue | null = null;
  /** Set when the server decided to close it, with the code it used. */
  closedBy: { reason: ServerCloseReason; code: number } | null = null;

  constructor(
    /** The client_id. */
    readonly id: string,
    /** The underlying ws socket. */
    readonly socket: WebSocket,
    /** The peer address at accept time. */
    readonly remoteAddress?: string,
  ) {}
}

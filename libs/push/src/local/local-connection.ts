import type { WebSocket } from 'ws';
import type { HistoryOffset } from '../history/history-offset';
import { CLIENT_KEY_PREFIX } from '../history/target-key';
import type { PushSession } from '../interfaces/push-message.interface';
import type { EncodedMessage } from '../message/encoded-message';
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
  | 'engine-unavailable'
  /** Another socket resumed the connection with its token (this one is replaced; code 4001). */
  | 'replaced'
  /** A dropped resumable connection was not resumed within `resume.window`. */
  | 'resume-expired'
  /**
   * A resumable connection was about to skip a message of a target's history that this node missed: cut (1013) so
   * that it resumes and the replay fills the gap.
   */
  | 'history-gap';

/**
 * What a connection on the resumable protocol (the official client) has besides its bindings. Plain connections have
 * none, so they cost nothing more.
 */
export interface ResumeState {
  /**
   * SHA-256 of the secret of the token the client holds now. A resume changes it when it writes the welcome that
   * carries the next token, not before: a socket that dies before its welcome leaves the client's token good. Hex
   * (see `keptSecretHash`).
   */
  secretHash: string;
  /**
   * Whether the client was given a token for this connection (its welcome was written). One that was not (its socket
   * closed first) cannot be resumed by anyone: a drop ends it instead of keeping it for the window.
   */
  issued: boolean;
  /**
   * Where the connection joined each of its targets' histories: history key → that history's head when it joined
   * (null: the target had no history then, so all of its current history came later). A replay never starts before
   * it, whatever offset the client claims. Its client_ids' histories are not kept here: they are always null (read it
   * through `joinedAt`).
   */
  since: Map<string, HistoryOffset | null>;
  /** While it is dropped and resumable: until when (ms); 0 while a socket is attached. */
  detachedUntil: number;
  /**
   * Until its welcome is written (a fresh connection's, or a resume's after its replay): the frames that arrived for
   * it meanwhile, written after the welcome (at most `MAX_PENDING_RESUME_FRAMES`).
   */
  pending: EncodedMessage[] | null;
  /**
   * The last offset of each history it was sent (history key → offset; after a resume, what its replay covered). A
   * frame of that history must come next in sequence: one at or before it is a duplicate (dropped), one past the next
   * means this node missed messages (a subscription confirmed late, a subscriber that reconnected): the connection is
   * then cut with 1013 and resumes, and the replay fills the gap. Created on first use.
   */
  sent: Map<string, HistoryOffset> | null;
  /** The engine lost history that may concern it (its backend lost data): its next resume is not `recovered`. */
  historyLost: boolean;
  /** While dropped: the timer that ends it when the window passes. */
  expiry: NodeJS.Timeout | null;
  /** While dropped: ends it for good (the window passed, or the app closed it), with the reason. */
  end: ((reason: ServerCloseReason) => void) | null;
  /**
   * The node it was last offered to, for a resume there (until `offerUntil`, no other resume takes it); it stays here,
   * dropped, until that node releases it, or is resumable again once the offer lapsed.
   */
  movedTo: string | null;
  /** Until when (ms) the offer to `movedTo` stands. */
  offerUntil: number;
}

/**
 * Whether a resume of the connection is under way: on this node (its welcome not written yet), or offered to another
 * node (until the offer lapses). Another resume meanwhile is told to try again.
 */
export function resuming(state: ResumeState): boolean {
  return state.pending !== null || (state.movedTo !== null && Date.now() < state.offerUntil);
}

/**
 * Where a resumable connection joined the history `key` (see `ResumeState.since`); undefined for a target it was never
 * said to join. A client_id's history (`c:<id>`, its current id's or a previous one's) is not kept in `since`, to save
 * an entry and a key string per connection: it starts after its connection does, so the connection joined it when it
 * had nothing (null).
 */
export function joinedAt(resume: ResumeState, key: string): HistoryOffset | null | undefined {
  const since = resume.since.get(key);
  return since === undefined && key.startsWith(CLIENT_KEY_PREFIX) ? null : since;
}

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
  /** The resumable protocol's state, for a connection that negotiated it; null for a plain one. */
  resume: ResumeState | null = null;

  constructor(
    /** The client_id. */
    readonly id: string,
    /**
     * The underlying ws socket. Replaced only when the connection is resumed on this node by a new socket (see
     * `LocalRegistry.reattach`).
     */
    public socket: WebSocket,
    /** The peer address at accept time. */
    readonly remoteAddress?: string,
  ) {}
}

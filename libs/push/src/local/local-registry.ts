import { WebSocket } from 'ws';
import type { ClientInfo } from '../interfaces/client-info.interface';
import type { EncodedMessage } from '../message/encoded-message';
import type { PushMetrics } from '../push-metrics.service';
import type { LocalConnection, ServerCloseReason } from './local-connection';

/** Settings the registry needs to protect the process. */
export interface LocalRegistryLimits {
  /** Bytes that may wait in one socket's send queue before it is dropped as a slow consumer. */
  maxBufferedBytes: number;
  /** Frames written per event-loop turn before a fan-out yields (default 1024). */
  fanoutChunk?: number;
}

/** The parts of a ws socket the fast path uses (ws internals, stable across ws 8). */
interface WsInternals {
  _socket?: { cork(): void; uncork(): void };
  _sender?: { _state: number; sendFrame(list: Buffer[], cb: undefined): void };
  _extensions?: Record<string, unknown>;
}

/** A fan-out in flight: the same audience snapshot, one or more messages for each member. */
/** Who a delivery goes to: any collection of connections; a Set or Map is recognised again when reused. */
export type Audience = Iterable<LocalConnection> | ReadonlyMap<string, LocalConnection>;

interface DeliveryJob {
  source: Audience;
  version: number;
  targets: LocalConnection[];
  index: number;
  messages: EncodedMessage[];
  exclude: ReadonlySet<string> | null;
  delivered: number[];
  waiters: ((delivered: number) => void)[];
  /** Instead of a delivery: something to run in order with the deliveries (a close after pushes). */
  task?: () => void;
}

const EMPTY_JOB: Omit<DeliveryJob, 'task'> = {
  source: [],
  version: -1,
  targets: [],
  index: 0,
  messages: [],
  exclude: null,
  delivered: [],
  waiters: [],
};

/** ws's Sender state when nothing (deflate, blob read) is pending, so a frame can be written directly. */
const SENDER_IDLE = 0;
const DEFAULT_FANOUT_CHUNK = 1024;

function hasExtensions(socket: WsInternals): boolean {
  for (const _ in socket._extensions) return true;
  return false;
}

function sizeOf(targets: Audience): number | undefined {
  if (targets instanceof Set || targets instanceof Map) return targets.size;
  if (Array.isArray(targets)) return targets.length;
  return undefined;
}

/** How long a closing socket may take to finish its close handshake before it is cut. */
const CLOSE_GRACE_MS = 2000;

/**
 * This process's sockets and their bindings: client_id → connection, uid → connections, group → connections.
 * Every engine keeps one (a push-only node's stays empty); the memory engine answers everything from it, and a
 * cluster engine uses it for the deliveries that land on this node.
 */
export class LocalRegistry {
  private readonly byId = new Map<string, LocalConnection>();
  private readonly byUid = new Map<string, Set<LocalConnection>>();
  private readonly byGroup = new Map<string, Set<LocalConnection>>();
  /** Bumped on every membership change, so a queued audience snapshot is only reused while still exact. */
  private version = 0;
  private readonly queue: DeliveryJob[] = [];
  private corked: LocalConnection[] = [];
  private flushScheduled = false;
  private readonly chunk: number;

  constructor(
    private readonly limits: LocalRegistryLimits,
    private readonly metrics: PushMetrics,
  ) {
    this.chunk = limits.fanoutChunk ?? DEFAULT_FANOUT_CHUNK;
  }

  /** Every connection held, keyed by client_id (a live view, for fan-outs to everyone). */
  get all(): ReadonlyMap<string, LocalConnection> {
    return this.byId;
  }

  /** Number of connections held. */
  get size(): number {
    return this.byId.size;
  }

  /** Number of distinct uids bound on this node. */
  get uidCount(): number {
    return this.byUid.size;
  }

  /** Adds a freshly accepted connection. */
  add(conn: LocalConnection): void {
    this.version++;
    this.byId.set(conn.id, conn);
  }

  /** Removes a connection and every binding it had, and returns what it had. Idempotent. */
  remove(conn: LocalConnection): ClientInfo {
    const info = this.describe(conn);
    if (this.byId.get(conn.id) === conn) {
      this.version++;
      this.byId.delete(conn.id);
      this.setUid(conn, null);
      for (const group of [...conn.groups]) this.leave(conn, group);
    }
    return info;
  }

  /** The connection with this client_id, if this node holds it. */
  get(clientId: string): LocalConnection | undefined {
    return this.byId.get(clientId);
  }

  /** Every connection held. */
  connections(): IterableIterator<LocalConnection> {
    return this.byId.values();
  }

  /** Binds `uid` (or unbinds with null), replacing any previous uid. Returns the previous one. */
  setUid(conn: LocalConnection, uid: string | null): string | null {
    const previous = conn.uid;
    if (previous === uid) return previous;
    this.version++;
    if (previous !== null) removeFromIndex(this.byUid, previous, conn);
    conn.uid = uid;
    if (uid !== null) addToIndex(this.byUid, uid, conn);
    return previous;
  }

  /** Adds the connection to a group. Returns false if it was already a member. */
  join(conn: LocalConnection, group: string): boolean {
    if (conn.groups.has(group)) return false;
    this.version++;
    conn.groups.add(group);
    addToIndex(this.byGroup, group, conn);
    return true;
  }

  /** Removes the connection from a group. Returns false if it was not a member. */
  leave(conn: LocalConnection, group: string): boolean {
    if (!conn.groups.delete(group)) return false;
    this.version++;
    removeFromIndex(this.byGroup, group, conn);
    return true;
  }

  /** Dissolves a group on this node; returns the connections that were in it. */
  dropGroup(group: string): LocalConnection[] {
    const members = this.byGroup.get(group);
    if (!members) return [];
    this.version++;
    this.byGroup.delete(group);
    for (const conn of members) conn.groups.delete(group);
    return [...members];
  }

  /** Connections bound to `uid` on this node (a live view: copy before mutating bindings). */
  connectionsOfUid(uid: string): ReadonlySet<LocalConnection> | undefined {
    return this.byUid.get(uid);
  }

  /** Connections in `group` on this node (a live view). */
  connectionsOfGroup(group: string): ReadonlySet<LocalConnection> | undefined {
    return this.byGroup.get(group);
  }

  /** Uids bound on this node. */
  uids(): IterableIterator<string> {
    return this.byUid.keys();
  }

  /** Groups with members on this node. */
  groups(): IterableIterator<string> {
    return this.byGroup.keys();
  }

  /** A detached snapshot of one connection. */
  describe(conn: LocalConnection): ClientInfo {
    return { clientId: conn.id, uid: conn.uid, groups: [...conn.groups], session: structuredClone(conn.session) };
  }

  /**
   * Writes `message` to one socket now, ahead of any fan-out still in flight: for frames whose order against
   * pushes does not matter (the init frame of a new connection, error replies). Returns true when queued.
   */
  write(conn: LocalConnection, message: EncodedMessage): boolean {
    return this.writeNow(conn, message);
  }

  /**
   * Writes `message` to each connection once, skipping client_ids in `exclude`, in order with every other
   * delivery. Small fan-outs complete synchronously (a number); one larger than `fanoutChunk` is split over
   * event-loop turns so no broadcast stalls heartbeats and HTTP, and resolves when done (a Promise).
   */
  deliver(
    targets: Audience,
    message: EncodedMessage,
    exclude?: ReadonlySet<string> | null,
  ): number | Promise<number> {
    const size = sizeOf(targets);
    if (this.queue.length === 0 && size !== undefined && size <= this.chunk) {
      let delivered = 0;
      for (const conn of targets instanceof Map ? targets.values() : (targets as Iterable<LocalConnection>)) {
        if (exclude && exclude.has(conn.id)) continue;
        if (this.writeNow(conn, message)) delivered++;
      }
      return delivered;
    }
    return this.enqueue(targets, message, exclude ?? null);
  }

  /** Everything in the fan-out queue has been written (tests observe the split with it). */
  get idle(): boolean {
    return this.queue.length === 0;
  }

  private enqueue(
    targets: Audience,
    message: EncodedMessage,
    exclude: ReadonlySet<string> | null,
  ): Promise<number> {
    return new Promise<number>((resolve) => {
      const last = this.queue[this.queue.length - 1];
      // Back-to-back pushes to the same unchanged audience share one job, so each socket receives them in one
      // write (the burst case: 20 sends to one group leave as one syscall per member, not twenty).
      if (
        last &&
        last.index === 0 &&
        last.source === targets &&
        last.version === this.version &&
        last.exclude === null &&
        exclude === null
      ) {
        last.messages.push(message);
        last.waiters.push(resolve);
        return;
      }
      const wasIdle = this.queue.length === 0;
      this.queue.push({
        source: targets,
        version: this.version,
        targets: targets instanceof Map ? [...targets.values()] : [...(targets as Iterable<LocalConnection>)],
        index: 0,
        messages: [message],
        exclude,
        delivered: [0],
        waiters: [resolve],
      });
      // First pass at the end of this synchronous run, not now: sends issued back to back in the same run
      // (a burst) then merge into this job before any socket is written.
      if (wasIdle) queueMicrotask(this.pump);
    });
  }

  /** Writes up to `fanoutChunk` frames from the queue, flushes them, and comes back next turn for the rest. */
  private readonly pump = (): void => {
    let budget = this.chunk;
    while (budget > 0 && this.queue.length > 0) {
      const job = this.queue[0];
      if (job.task) {
        this.queue.shift();
        job.task();
        budget--;
        continue;
      }
      const perTarget = job.messages.length;
      const end = Math.min(job.targets.length, job.index + Math.max(1, Math.floor(budget / perTarget)));
      for (let i = job.index; i < end; i++) {
        const conn = job.targets[i];
        if (job.exclude && job.exclude.has(conn.id)) continue;
        for (let m = 0; m < perTarget; m++) {
          if (job.delivered[m] === undefined) job.delivered[m] = 0;
          if (this.writeNow(conn, job.messages[m])) job.delivered[m]++;
        }
      }
      budget -= (end - job.index) * perTarget;
      job.index = end;
      if (job.index >= job.targets.length) {
        this.queue.shift();
        job.waiters.forEach((resolve, m) => resolve(job.delivered[m] ?? 0));
      }
    }
    this.flush();
    if (this.queue.length > 0) setImmediate(this.pump);
  };

  private writeNow(conn: LocalConnection, message: EncodedMessage): boolean {
    const socket = conn.socket;
    if (socket.readyState !== WebSocket.OPEN) return false;
    if (socket.bufferedAmount + message.byteLength > this.limits.maxBufferedBytes) {
      this.metrics.slowConsumerDrops++;
      this.close(conn, 1013, 'slow-consumer');
      return false;
    }
    const internals = socket as unknown as WsInternals;
    const raw = internals._socket;
    // Hold the socket's writes until the end of this turn, so that several frames leave in one syscall.
    if (!conn.corked && raw) {
      conn.corked = true;
      raw.cork();
      this.corked.push(conn);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(this.flush);
      }
    }
    const sender = internals._sender;
    if (sender && sender._state === SENDER_IDLE && !hasExtensions(internals)) {
      sender.sendFrame([message.frame], undefined); // the frame built once for every recipient
    } else {
      socket.send(message.data, { binary: message.binary });
    }
    this.metrics.framesDelivered++;
    return true;
  }

  /** Releases every socket corked this turn: each sends what it gathered in one writev. */
  private readonly flush = (): void => {
    this.flushScheduled = false;
    const corked = this.corked;
    if (corked.length === 0) return;
    this.corked = [];
    for (const conn of corked) {
      conn.corked = false;
      (conn.socket as unknown as WsInternals)._socket?.uncork();
    }
  };

  /**
   * Starts a close handshake (after any queued frame, so a final message is flushed first), and cuts the socket
   * if the peer does not finish it in time. A close asked for by the app waits behind the fan-outs already
   * accepted, so what was pushed before `closeClient` still reaches the client. Returns false if the socket was
   * already closing.
   */
  close(conn: LocalConnection, code: number, reason: ServerCloseReason, finalMessage?: EncodedMessage | null): boolean {
    const socket = conn.socket;
    if (socket.readyState !== WebSocket.OPEN && socket.readyState !== WebSocket.CONNECTING) return false;
    if (this.queue.length > 0 && reason === 'closed-by-server') {
      this.queue.push({ ...EMPTY_JOB, task: () => this.closeNow(conn, code, reason, finalMessage) });
      return true;
    }
    return this.closeNow(conn, code, reason, finalMessage);
  }

  private closeNow(
    conn: LocalConnection,
    code: number,
    reason: ServerCloseReason,
    finalMessage?: EncodedMessage | null,
  ): boolean {
    const socket = conn.socket;
    if (socket.readyState !== WebSocket.OPEN && socket.readyState !== WebSocket.CONNECTING) return false;
    // The final message goes first; if it trips the send-queue cap, the slow-consumer close (1013) wins.
    if (finalMessage) this.writeNow(conn, finalMessage);
    if (socket.readyState !== WebSocket.OPEN && socket.readyState !== WebSocket.CONNECTING) return true;
    conn.closedBy ??= { reason, code };
    socket.close(code, reason);
    setTimeout(() => socket.terminate(), CLOSE_GRACE_MS).unref();
    return true;
  }

  /** Cuts the socket now, without a close handshake. */
  destroy(conn: LocalConnection, reason: ServerCloseReason = 'destroyed', code = 1006): boolean {
    const socket = conn.socket;
    if (socket.readyState === WebSocket.CLOSED) return false;
    conn.closedBy ??= { reason, code };
    socket.terminate();
    return true;
  }
}

function addToIndex(index: Map<string, Set<LocalConnection>>, key: string, conn: LocalConnection): void {
  let set = index.get(key);
  if (!set) index.set(key, (set = new Set()));
  set.add(conn);
}

function removeFromIndex(index: Map<string, Set<LocalConnection>>, key: string, conn: LocalConnection): void {
  const set = index.get(key);
  if (!set) return;
  set.delete(conn);
  if (set.size === 0) index.delete(key);
}

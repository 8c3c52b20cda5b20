import { WebSocket } from 'ws';
import type { ClientInfo } from '../interfaces/client-info.interface';
import type { EncodedMessage } from '../message/encoded-message';
import type { PushMetrics } from '../push-metrics.service';
import type { LocalConnection, ServerCloseReason } from './local-connection';

/** Settings the registry needs to protect the process. */
export interface LocalRegistryLimits {
  /** Bytes that may wait in one socket's send queue before it is dropped as a slow consumer. */
  maxBufferedBytes: number;
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

  constructor(
    private readonly limits: LocalRegistryLimits,
    private readonly metrics: PushMetrics,
  ) {}

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
    this.byId.set(conn.id, conn);
  }

  /** Removes a connection and every binding it had, and returns what it had. Idempotent. */
  remove(conn: LocalConnection): ClientInfo {
    const info = this.describe(conn);
    if (this.byId.get(conn.id) === conn) {
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
    if (previous !== null) removeFromIndex(this.byUid, previous, conn);
    conn.uid = uid;
    if (uid !== null) addToIndex(this.byUid, uid, conn);
    return previous;
  }

  /** Adds the connection to a group. Returns false if it was already a member. */
  join(conn: LocalConnection, group: string): boolean {
    if (conn.groups.has(group)) return false;
    conn.groups.add(group);
    addToIndex(this.byGroup, group, conn);
    return true;
  }

  /** Removes the connection from a group. Returns false if it was not a member. */
  leave(conn: LocalConnection, group: string): boolean {
    if (!conn.groups.delete(group)) return false;
    removeFromIndex(this.byGroup, group, conn);
    return true;
  }

  /** Dissolves a group on this node; returns the connections that were in it. */
  dropGroup(group: string): LocalConnection[] {
    const members = this.byGroup.get(group);
    if (!members) return [];
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
   * Queues `message` on one socket. Returns true when it was queued. A socket whose queue would pass the cap
   * is closed with 1013 and counted instead: a client that does not read can never grow this process's memory.
   */
  write(conn: LocalConnection, message: EncodedMessage): boolean {
    const socket = conn.socket;
    if (socket.readyState !== WebSocket.OPEN) return false;
    if (socket.bufferedAmount + message.byteLength > this.limits.maxBufferedBytes) {
      this.metrics.slowConsumerDrops++;
      this.close(conn, 1013, 'slow-consumer');
      return false;
    }
    socket.send(message.data, { binary: message.binary });
    this.metrics.framesDelivered++;
    return true;
  }

  /** Writes `message` to each connection once, skipping client_ids in `exclude`. Returns how many got it. */
  deliver(
    targets: Iterable<LocalConnection>,
    message: EncodedMessage,
    exclude?: ReadonlySet<string> | null,
  ): number {
    let delivered = 0;
    for (const conn of targets) {
      if (exclude && exclude.has(conn.id)) continue;
      if (this.write(conn, message)) delivered++;
    }
    return delivered;
  }

  /**
   * Starts a close handshake (after any queued frame, so a final message is flushed first), and cuts the socket
   * if the peer does not finish it in time. Returns false if the socket was already closing.
   */
  close(conn: LocalConnection, code: number, reason: ServerCloseReason, finalMessage?: EncodedMessage | null): boolean {
    const socket = conn.socket;
    if (socket.readyState !== WebSocket.OPEN && socket.readyState !== WebSocket.CONNECTING) return false;
    // The final message goes first; if it trips the send-queue cap, the slow-consumer close (1013) wins.
    if (finalMessage) this.write(conn, finalMessage);
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

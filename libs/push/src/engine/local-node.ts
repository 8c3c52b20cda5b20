import { Logger } from '@nestjs/common';
import { PushClientNotFoundError, PushLimitExceededError } from '../errors/push.errors';
import type { ClientInfo } from '../interfaces/client-info.interface';
import type { PushSession } from '../interfaces/push-message.interface';
import type { LocalConnection } from '../local/local-connection';
import type { Audience, LocalRegistry } from '../local/local-registry';
import type { EncodedMessage } from '../message/encoded-message';
import { deepMerge } from '../util/deep-merge';
import type { InitialBinding } from './push.engine';

/** A delivery on this node: what it wrote (or will have written), and how many members it aimed at. */
export interface LocalDelivery {
  /** Frames written; a Promise when the fan-out was large enough to be split over turns. */
  delivered: number | Promise<number>;
  /** Connections of this node the push was aimed at (after `exclude`), to subtract from a cluster-wide count. */
  members: number;
}

/**
 * What every engine does with the sockets of its own process, written once: registry bookkeeping on connect and
 * close, local delivery to client_ids, uids, groups and everyone, the close path, and the holder's side of
 * bindings and sessions (limits checked here). `MemoryEngine` is this and nothing else; a cluster engine adds the
 * index and the messages between nodes around it. Exported for engine authors.
 */
export class LocalNode {
  private readonly logger = new Logger('PushEngine');

  constructor(
    /** This process's sockets. */
    readonly registry: LocalRegistry,
  ) {}

  /** Takes a newly accepted connection in, with its initial binding (the gateway's `authenticate` result). */
  add(conn: LocalConnection, initial?: InitialBinding): void {
    this.registry.add(conn);
    if (initial?.session) conn.session = structuredClone(initial.session);
    if (initial?.uid) this.registry.setUid(conn, initial.uid);
  }

  /** Drops a closed connection and every binding it had; returns what it had. Idempotent. */
  remove(conn: LocalConnection): ClientInfo {
    return this.registry.remove(conn);
  }

  /** The connection with this client_id, if this process holds it. */
  get(clientId: string): LocalConnection | undefined {
    return this.registry.get(clientId);
  }

  /** The connection with this client_id; throws `PushClientNotFoundError` when this process does not hold it. */
  require(clientId: string): LocalConnection {
    const conn = this.registry.get(clientId);
    if (!conn) throw new PushClientNotFoundError(clientId);
    return conn;
  }

  /** Whether this exact connection is still held (a write that awaited its backend checks it before applying). */
  holds(conn: LocalConnection): boolean {
    return this.registry.holds(conn);
  }

  // ---- delivery ------------------------------------------------------------------------------------------------

  /** Writes to the listed connections this process holds (each once), except the excluded ones. */
  deliverToClients(clientIds: Iterable<string>, message: EncodedMessage, exclude: ReadonlySet<string> | null): LocalDelivery {
    const targets = new Set<LocalConnection>();
    for (const id of clientIds) {
      if (exclude?.has(id)) continue;
      const conn = this.registry.get(id);
      if (conn) targets.add(conn);
    }
    return { delivered: targets.size ? this.registry.deliver(targets, message) : 0, members: targets.size };
  }

  /** Writes to every connection of these uids that this process holds. */
  deliverToUids(uids: Iterable<string>, message: EncodedMessage): LocalDelivery {
    const parts: (number | Promise<number>)[] = [];
    let members = 0;
    // A connection has one uid, so distinct uids never share a connection: no de-duplication needed.
    for (const uid of new Set(uids)) {
      const conns = this.registry.connectionsOfUid(uid);
      if (!conns) continue;
      members += conns.size;
      parts.push(this.registry.deliver(conns, message));
    }
    return { delivered: sum(parts), members };
  }

  /** Writes once to every member of any of these groups that this process holds, except the excluded ones. */
  deliverToGroups(groups: Iterable<string>, message: EncodedMessage, exclude: ReadonlySet<string> | null): LocalDelivery {
    const unique = [...new Set(groups)];
    if (unique.length === 1) {
      // The live member set itself: back-to-back pushes to one group merge into one write per member.
      const members = this.registry.connectionsOfGroup(unique[0]);
      if (!members) return NONE;
      let aimed = members.size;
      if (exclude) for (const id of exclude) if (this.registry.get(id)?.groups.has(unique[0])) aimed--;
      return { delivered: this.registry.deliver(members, message, exclude), members: aimed };
    }
    const targets = new Set<LocalConnection>();
    for (const group of unique) {
      const members = this.registry.connectionsOfGroup(group);
      if (members) for (const conn of members) if (!exclude?.has(conn.id)) targets.add(conn);
    }
    return { delivered: targets.size ? this.registry.deliver(targets, message) : 0, members: targets.size };
  }

  /** Writes to every connection this process holds, except the excluded ones. */
  deliverToAll(message: EncodedMessage, exclude: ReadonlySet<string> | null): LocalDelivery {
    let members = this.registry.size;
    if (exclude) for (const id of exclude) if (this.registry.get(id)) members--;
    return { delivered: this.registry.deliver(this.registry.all, message, exclude), members };
  }

  /**
   * Delivers a push that came from another node. Nobody is waiting for an answer there, so a push refused by
   * this node's fan-out bound (`maxFanoutQueue`) is counted (by the registry) and logged, not thrown.
   */
  deliverFromCluster(targets: Audience, message: EncodedMessage, exclude: ReadonlySet<string> | null): void {
    try {
      void this.registry.deliver(targets, message, exclude);
    } catch (error) {
      if (!(error instanceof PushLimitExceededError)) throw error;
      this.logger.warn(`dropped a push from another node: ${error.message}`);
    }
  }

  // ---- the close path ------------------------------------------------------------------------------------------

  /** Closes one held connection (flushing `finalMessage` first), or cuts it with `destroy`; false if not held. */
  close(clientId: string, finalMessage: EncodedMessage | null, destroy: boolean): boolean {
    const conn = this.registry.get(clientId);
    if (!conn) return false;
    return destroy ? this.registry.destroy(conn) : this.registry.close(conn, 1000, 'closed-by-server', finalMessage);
  }

  /** Closes every held connection of `uid`; returns how many it closed. */
  closeUid(uid: string): number {
    const conns = this.registry.connectionsOfUid(uid);
    if (!conns) return 0;
    let closed = 0;
    for (const conn of [...conns]) if (this.registry.close(conn, 1000, 'closed-by-server')) closed++;
    return closed;
  }

  // ---- the holder's side of bindings and sessions --------------------------------------------------------------

  /**
   * The session a `setSession` (or, with `merge`, an `updateSession`) would leave, and its JSON; throws
   * `PushLimitExceededError` when it passes `maxSessionBytes`. Read it inside the connection's write turn, so the
   * base is the result of every earlier write.
   */
  nextSession(conn: LocalConnection, value: PushSession, merge: boolean): { session: PushSession; json: string } {
    const session = merge ? deepMerge(conn.session, structuredClone(value)) : structuredClone(value);
    const json = JSON.stringify(session);
    this.registry.checkSession(json);
    return { session, json };
  }

  // ---- queries over this process -------------------------------------------------------------------------------

  /** What a held connection has, or null. */
  describe(clientId: string): ClientInfo | null {
    const conn = this.registry.get(clientId);
    return conn ? this.registry.describe(conn) : null;
  }

  /** The client_ids of the held connections of `uid`. */
  idsOfUid(uid: string): string[] {
    return idsOf(this.registry.connectionsOfUid(uid));
  }

  /** The client_ids of the held members of `group`. */
  idsOfGroup(group: string): string[] {
    return idsOf(this.registry.connectionsOfGroup(group));
  }

  /** Every held client_id. */
  allIds(): string[] {
    return idsOf(this.registry.connections());
  }
}

const NONE: LocalDelivery = { delivered: 0, members: 0 };

function sum(parts: (number | Promise<number>)[]): number | Promise<number> {
  let total = 0;
  let pending: Promise<number>[] | null = null;
  for (const part of parts) {
    if (typeof part === 'number') total += part;
    else (pending ??= []).push(part);
  }
  if (!pending) return total;
  return Promise.all(pending).then((counts) => counts.reduce((a, b) => a + b, total));
}

function idsOf(conns: Iterable<LocalConnection> | undefined): string[] {
  const ids: string[] = [];
  if (conns) for (const conn of conns) ids.push(conn.id);
  return ids;
}

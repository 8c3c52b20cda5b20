import { Logger } from '@nestjs/common';
import { PushClientNotFoundError, PushLimitExceededError } from '../errors/push.errors';
import type { ClientInfo } from '../interfaces/client-info.interface';
import type { PushSession } from '../interfaces/push-message.interface';
import { targetKey, type TargetRef } from '../history/target-key';
import type { LocalConnection } from '../local/local-connection';
import type { Audience, DeliveryCount, LocalRegistry } from '../local/local-registry';
import type { EncodedMessage } from '../message/encoded-message';
import { deepMerge } from '../util/deep-merge';
import type { InitialBinding } from './push.engine';

/** A delivery on this node: what it wrote (or will have written), and how many members it aimed at. */
export interface LocalDelivery {
  /** Frames written and messages held; a Promise when the fan-out was large enough to be split over turns. */
  count: DeliveryCount | Promise<DeliveryCount>;
  /** Connections of this node the push was aimed at (after `exclude`), to subtract from a cluster-wide count. */
  members: number;
}

/**
 * Puts a message into a target's history and returns it with its envelope for that target (an engine that keeps
 * history in this process passes one to the delivery methods). `targets` lists every group of a send to several.
 */
export type HistoryStamp = (
  message: EncodedMessage,
  target: TargetRef,
  key: string,
  exclude: ReadonlySet<string> | null,
  targets: readonly string[] | null,
) => EncodedMessage;

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

  /**
   * Writes to the listed connections this process holds (each once), except the excluded ones. With `stamp`, each
   * resumable one's message goes into its own client_id's history first.
   */
  deliverToClients(
    clientIds: Iterable<string>,
    message: EncodedMessage,
    exclude: ReadonlySet<string> | null,
    stamp?: HistoryStamp | null,
  ): LocalDelivery {
    const targets = new Set<LocalConnection>();
    const parts: (DeliveryCount | Promise<DeliveryCount>)[] = [];
    for (const id of clientIds) {
      if (exclude?.has(id)) continue;
      const conn = this.registry.get(id);
      if (!conn || targets.has(conn)) continue;
      targets.add(conn);
      if (stamp && conn.resume) {
        const target: TargetRef = { kind: 'client', name: id };
        parts.push(this.registry.deliver([conn], stamp(message, target, targetKey(target), null, null)));
      }
    }
    const plain = stamp ? [...targets].filter((conn) => !conn.resume) : [...targets];
    if (plain.length) parts.push(this.registry.deliver(plain, message));
    return { count: sumCounts(parts), members: targets.size };
  }

  /** Writes to every connection of these uids that this process holds (with `stamp`: each uid's history first). */
  deliverToUids(uids: Iterable<string>, message: EncodedMessage, stamp?: HistoryStamp | null): LocalDelivery {
    const parts: (DeliveryCount | Promise<DeliveryCount>)[] = [];
    let members = 0;
    // A connection has one uid, so distinct uids never share a connection: no de-duplication needed.
    for (const uid of new Set(uids)) {
      const conns = this.registry.connectionsOfUid(uid);
      if (!conns) continue;
      members += conns.size;
      const target: TargetRef = { kind: 'uid', name: uid };
      parts.push(this.registry.deliver(conns, stamp ? stamp(message, target, targetKey(target), null, null) : message));
    }
    return { count: sumCounts(parts), members };
  }

  /**
   * Writes once to every member of any of these groups that this process holds, except the excluded ones. With
   * `stamp`, each group's history gets the message, and a connection in several of the groups receives it through
   * the first one it is in (the rule a replay follows too).
   */
  deliverToGroups(
    groups: Iterable<string>,
    message: EncodedMessage,
    exclude: ReadonlySet<string> | null,
    stamp?: HistoryStamp | null,
  ): LocalDelivery {
    const unique = [...new Set(groups)];
    if (unique.length === 1) {
      // The live member set itself: back-to-back pushes to one group merge into one write per member.
      const members = this.registry.connectionsOfGroup(unique[0]);
      if (!members) return NONE;
      let aimed = members.size;
      if (exclude) for (const id of exclude) if (this.registry.get(id)?.groups.has(unique[0])) aimed--;
      const target: TargetRef = { kind: 'group', name: unique[0] };
      const stamped = stamp ? stamp(message, target, targetKey(target), exclude, null) : message;
      return { count: this.registry.deliver(members, stamped, exclude), members: aimed };
    }
    if (stamp) return this.deliverToGroupsInOrder(unique, message, exclude, stamp);
    const targets = new Set<LocalConnection>();
    for (const group of unique) {
      const members = this.registry.connectionsOfGroup(group);
      if (members) for (const conn of members) if (!exclude?.has(conn.id)) targets.add(conn);
    }
    return { count: targets.size ? this.registry.deliver(targets, message) : ZERO, members: targets.size };
  }

  /** Several groups with history: each group's new members (not in an earlier group) get its own envelope. */
  private deliverToGroupsInOrder(
    groups: string[],
    message: EncodedMessage,
    exclude: ReadonlySet<string> | null,
    stamp: HistoryStamp,
  ): LocalDelivery {
    const refs: TargetRef[] = groups.map((name) => ({ kind: 'group', name }));
    const keys = refs.map(targetKey);
    const served = new Set<LocalConnection>();
    const parts: (DeliveryCount | Promise<DeliveryCount>)[] = [];
    refs.forEach((target, i) => {
      const members = this.registry.connectionsOfGroup(groups[i]);
      if (!members) return;
      const stamped = stamp(message, target, keys[i], exclude, keys);
      const fresh: LocalConnection[] = [];
      const reachedEarlier: LocalConnection[] = [];
      for (const conn of members) {
        if (served.has(conn)) {
          reachedEarlier.push(conn);
          continue;
        }
        // An excluded one goes to the registry too, which skips it but notes that it passed this message.
        if (!exclude?.has(conn.id)) served.add(conn);
        fresh.push(conn);
      }
      this.registry.passOver(reachedEarlier, stamped);
      if (fresh.length) parts.push(this.registry.deliver(fresh, stamped, exclude));
    });
    return { count: sumCounts(parts), members: served.size };
  }

  /** Writes to every connection this process holds, except the excluded ones (with `stamp`: everyone's history first). */
  deliverToAll(message: EncodedMessage, exclude: ReadonlySet<string> | null, stamp?: HistoryStamp | null): LocalDelivery {
    let members = this.registry.size;
    if (exclude) for (const id of exclude) if (this.registry.get(id)) members--;
    const stamped = stamp ? stamp(message, { kind: 'all' }, 'a', exclude, null) : message;
    return { count: this.registry.deliver(this.registry.all, stamped, exclude), members };
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
    // A dropped resumable connection has no socket to close: it ends for good now instead of at its window's end.
    if (this.registry.endDetached(conn, destroy ? 'destroyed' : 'closed-by-server')) return true;
    return destroy ? this.registry.destroy(conn) : this.registry.close(conn, 1000, 'closed-by-server', finalMessage);
  }

  /** Closes every held connection of `uid` (dropped resumable ones end for good); returns how many it closed. */
  closeUid(uid: string): number {
    const conns = this.registry.connectionsOfUid(uid);
    if (!conns) return 0;
    let closed = 0;
    for (const conn of [...conns]) {
      if (this.registry.endDetached(conn, 'closed-by-server') || this.registry.close(conn, 1000, 'closed-by-server')) {
        closed++;
      }
    }
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

const ZERO: DeliveryCount = { delivered: 0, held: 0, deferred: 0 };
const NONE: LocalDelivery = { count: ZERO, members: 0 };

/** Adds delivery counts, waiting only for the parts that were split over turns. */
export function sumCounts(parts: (DeliveryCount | Promise<DeliveryCount>)[]): DeliveryCount | Promise<DeliveryCount> {
  const total = { delivered: 0, held: 0, deferred: 0 };
  let pending: Promise<DeliveryCount>[] | null = null;
  for (const part of parts) {
    if (part instanceof Promise) (pending ??= []).push(part);
    else add(total, part);
  }
  if (!pending) return total;
  return Promise.all(pending).then((counts) => counts.reduce(add, total));
}

function add(total: DeliveryCount, part: DeliveryCount): DeliveryCount {
  total.delivered += part.delivered;
  total.held += part.held;
  total.deferred += part.deferred;
  return total;
}

function idsOf(conns: Iterable<LocalConnection> | undefined): string[] {
  const ids: string[] = [];
  if (conns) for (const conn of conns) ids.push(conn.id);
  return ids;
}

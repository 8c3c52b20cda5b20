import { formatOffset, parseOffset, type HistoryOffset } from '../../history/history-offset';
import { targetKey, type TargetRef } from '../../history/target-key';
import type { PushSession } from '../../interfaces/push-message.interface';
import { serialWrite } from '../../local/connection-writes';
import type { LocalConnection } from '../../local/local-connection';
import { EncodedMessage } from '../../message/encoded-message';
import type { LocalNode } from '../local-node';
import type { ClusterDirectory } from './cluster-directory';
import type { AdoptReply, HolderCall } from './cluster-message';
import type { RouteSubscriptions } from './route-subscriptions';

/** How holder writes reach the index (the engine counts failures and schedules the resync). */
export interface IndexWriter {
  /** Runs a directory write; a false result (the connection missing from the index) schedules a resync. */
  write(call: () => Promise<boolean>): Promise<void>;
  /** A write that failed and was not awaited by anyone: counted, logged, and left to the resync. */
  failed(what: string, error: unknown): void;
}

/** What the holder needs for connections on the resumable protocol (absent when the engine keeps no history). */
export interface HolderResume {
  /** Where a target's history stands now (a connection joining it starts after that). */
  head(target: TargetRef): Promise<HistoryOffset | null>;
  /** Hands a resumable connection over to another node (an `adopt` call). */
  adopt(clientId: string, hash: string, by: string): Promise<AdoptReply>;
  /** Removes a connection handed over to node `by` (its `release` call). */
  release(clientId: string, by: string): Promise<boolean>;
  /**
   * The last offset of a target's history this node has delivered, if it has delivered any since it listens to it: a
   * connection that joins the target continues from there (what this node delivers next is what it gets next).
   */
  delivered(key: string): HistoryOffset | undefined;
}

/**
 * What the node that holds a connection does to it, for its own callers and for other nodes' calls alike (the
 * holder is the single writer of a connection's entries). Each write runs in the connection's write turn
 * (`serialWrite`): the index first, then this process's registry, and a bind or join resolves once the node listens
 * on the route. A connection closed while its write waited is left alone (its unregister, queued behind, cleans up).
 */
export class HolderWrites {
  constructor(
    private readonly local: LocalNode,
    private readonly directory: ClusterDirectory,
    private readonly subscriptions: RouteSubscriptions,
    private readonly index: IndexWriter,
    private readonly resume: HolderResume | null = null,
  ) {}

  /**
   * Serves a call on a connection this node holds; resolves to false (or null) when it does not hold it. `from` is the
   * calling node (this one for its own callers).
   */
  serve(clientId: string, call: HolderCall, body: Buffer, binary: boolean, from = ''): Promise<unknown> {
    switch (call.fn) {
      case 'bind':
        return this.setUid(clientId, call.uid);
      case 'unbind':
        return this.setUid(clientId, null);
      case 'join':
        return this.join(clientId, call.group);
      case 'leave':
        return this.leave(clientId, call.group);
      case 'setSession':
        return this.session(clientId, call.session, false).then((session) => session !== null);
      case 'updateSession':
        return this.session(clientId, call.patch, true);
      case 'close':
        return Promise.resolve(
          this.local.close(clientId, call.final ? EncodedMessage.fromWire(body, binary) : null, call.destroy),
        );
      case 'adopt':
        return this.resume ? this.resume.adopt(clientId, call.hash, from) : Promise.resolve({ status: 'not_found' });
      case 'release':
        return this.resume ? this.resume.release(clientId, from) : Promise.resolve(false);
    }
  }

  /** Dissolves a group among this node's connections, and in their directory entries; returns how many left it. */
  dropGroup(group: string): number {
    const members = this.local.registry.dropGroup(group);
    for (const conn of members) {
      void serialWrite(conn, () => this.directory.leave(conn.id, group)).catch((error: unknown) =>
        this.index.failed('ungroup', error),
      );
    }
    return members.length;
  }

  private setUid(clientId: string, uid: string | null): Promise<boolean> {
    return this.inTurn(clientId, false, async (conn) => {
      const previous = conn.uid;
      if (previous === uid) return true;
      const dropped = previous === null ? null : targetKey({ kind: 'uid', name: previous });
      const joined = uid === null ? null : await this.since(conn, { kind: 'uid', name: uid });
      const since = conn.resume ? { drop: dropped, set: joined } : undefined;
      await this.index.write(() => this.directory.setUid(clientId, previous, uid, since));
      if (!this.local.holds(conn)) return false;
      this.local.registry.setUid(conn, uid);
      this.noteSince(conn, dropped, joined);
      if (uid !== null) await this.subscriptions.ready('uid', uid);
      return true;
    });
  }

  private join(clientId: string, group: string): Promise<boolean> {
    return this.inTurn(clientId, false, async (conn) => {
      this.local.registry.checkJoin(conn, group);
      if (conn.groups.has(group)) return true;
      const joined = await this.since(conn, { kind: 'group', name: group });
      await this.index.write(() => this.directory.join(clientId, group, joined ?? undefined));
      if (!this.local.holds(conn)) return false;
      this.local.registry.join(conn, group);
      this.noteSince(conn, null, joined);
      await this.subscriptions.ready('group', group);
      return true;
    });
  }

  private leave(clientId: string, group: string): Promise<boolean> {
    return this.inTurn(clientId, false, async (conn) => {
      if (!conn.groups.has(group)) return true;
      const key = conn.resume ? targetKey({ kind: 'group', name: group }) : undefined;
      await this.index.write(() => this.directory.leave(clientId, group, key));
      if (!this.local.holds(conn)) return false;
      this.local.registry.leave(conn, group);
      this.noteSince(conn, key ?? null, null);
      return true;
    });
  }

  /**
   * A resumable connection about to join `target`: its history's head now (its replays never start before it), as
   * the field its record keeps; null for a plain connection.
   */
  private async since(conn: LocalConnection, target: TargetRef): Promise<[string, string | null] | null> {
    if (!conn.resume || !this.resume) return null;
    const head = await this.resume.head(target);
    return [targetKey(target), head && formatOffset(head)];
  }

  /**
   * Keeps the connection's own copy of where it joined its targets' histories in step with its record, and where the
   * sequence of what it is sent of the joined one starts: after what this node last delivered of it (the messages
   * published between the head read above and the join were not delivered to it, and are not missing from its
   * sequence), or, when this node delivered nothing of it yet, at the head read.
   */
  private noteSince(conn: LocalConnection, dropped: string | null, joined: [string, string | null] | null): void {
    const resume = conn.resume;
    if (!resume) return;
    if (dropped) {
      resume.since.delete(dropped);
      resume.sent?.delete(dropped);
    }
    if (!joined) return;
    const head = joined[1] === null ? null : parseOffset(joined[1]);
    resume.since.set(joined[0], head);
    const delivered = this.resume?.delivered(joined[0]);
    if (delivered) (resume.sent ??= new Map()).set(joined[0], delivered);
  }

  private session(clientId: string, value: PushSession, merge: boolean): Promise<PushSession | null> {
    return this.inTurn(clientId, null, async (conn) => {
      // Read inside the write turn: the base is the result of every earlier write, never a stale copy.
      const { session, json } = this.local.nextSession(conn, value, merge);
      await this.index.write(() => this.directory.setSession(clientId, json));
      if (!this.local.holds(conn)) return null;
      conn.session = session;
      return structuredClone(session);
    });
  }

  /** Runs `write` in the connection's write turn; `absent` when it is not (or no longer) held by then. */
  inTurnOf<T, A>(clientId: string, absent: A, write: (conn: LocalConnection) => Promise<T>): Promise<T | A> {
    return this.inTurn(clientId, absent, write);
  }

  /** Runs `write` in the connection's write turn; `absent` when it is not (or no longer) held by then. */
  private inTurn<T, A>(clientId: string, absent: A, write: (conn: LocalConnection) => Promise<T>): Promise<T | A> {
    const conn = this.local.get(clientId);
    if (!conn) return Promise.resolve(absent);
    return serialWrite<T | A>(conn, () => (this.local.holds(conn) ? write(conn) : Promise.resolve(absent)));
  }
}

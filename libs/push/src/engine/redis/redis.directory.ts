import { Cluster, type Redis } from 'ioredis';
import type { ClientInfo } from '../../interfaces/client-info.interface';
import type { PushSession } from '../../interfaces/push-message.interface';
import type {
  ClusterDirectory,
  ConnectionBindings,
  ConnectionRecord,
  DirectoryAdoption,
  NodeStatsEntry,
  SinceField,
} from '../cluster/cluster-directory';
import { parseOffset } from '../../history/history-offset';
import type { TargetRef } from '../../history/target-key';
import { NODE_ID_LENGTH } from '../../identity/client-id';
import { RedisKeys } from './redis-keys';
import { REDIS_SCRIPTS, type RedisScriptName } from './redis.scripts';

type Arg = string | Buffer | number;
/** The scripts as ioredis commands (`defineRedisScripts` adds them to a client), and their Buffer-reply variants. */
export type RedisScripts = Record<RedisScriptName | `${RedisScriptName}Buffer`, (...args: Arg[]) => Promise<unknown>>;
/** A command client: one Redis, or a Redis Cluster. */
export type RedisCommands = (Redis | Cluster) & RedisScripts;

/** Adds the engine's scripts to a client as commands (EVALSHA, loaded on first use). */
export function defineRedisScripts(client: Redis | Cluster): RedisCommands {
  for (const [name, script] of Object.entries(REDIS_SCRIPTS)) {
    if ((client as unknown as Record<string, unknown>)[name]) continue; // a caller's client shared by two engines
    client.defineCommand(name, { numberOfKeys: script.keys ?? undefined, lua: script.lua });
  }
  return client as RedisCommands;
}

/** Connections per script call when a node writes or removes many at once (they share its slot). */
const BATCH = 500;


/**
 * The directory on Redis (one server or a cluster: the same keys and scripts, see redis-keys.ts). A connection's
 * own entries are written by one script in its node's slot; its memberships in uid and group sets, and the
 * cluster-wide sets, are separate commands on their own slots, issued after it and idempotent (SADD/SREM), so a
 * write that fails half-way is completed by the resync, and a reap that stops half-way by the next reaper.
 */
export class RedisDirectory implements ClusterDirectory {
  constructor(
    private readonly redis: RedisCommands,
    private readonly keys: RedisKeys,
  ) {}

  async register(node: string, records: readonly ConnectionRecord[]): Promise<void> {
    const held = this.keys.nodeClients(node);
    // What the index had first, and its stale memberships removed, before the record is overwritten: a write that
    // fails half-way then leaves the old record in place for the resync to read again, never a membership that no
    // record names any more (which nothing would ever remove).
    const previous = await this.forget(node, records.map((r) => r.clientId), false);
    const stale: ConnectionBindings[] = [];
    records.forEach((r, n) => {
      const old = previous[n];
      const uid = old.uid && old.uid !== r.uid ? old.uid : null;
      const groups = old.groups.filter((group) => !r.groups.includes(group));
      if (uid || groups.length) stale.push({ clientId: r.clientId, uid, groups });
    });
    await this.unlink(stale, false);
    // One script per connection, all issued at once: auto-pipelining sends them in one write per shard.
    const writes: Promise<unknown>[] = records.map((r) => {
      const keys = [held, this.keys.connection(r.clientId), this.keys.connectionGroups(r.clientId), ...this.nodeSets(node)];
      const until = r.resumable?.detachedUntil ?? 0;
      return this.redis.pushRegister(...keys, r.clientId, r.session, r.uid ?? '', resumableJson(r), until, ...r.groups);
    });
    for (let i = 0; i < records.length; i += BATCH) {
      writes.push(this.redis.sadd(this.keys.clients, ...records.slice(i, i + BATCH).map((r) => r.clientId)));
    }
    for (const r of records) {
      const dropped = (r.resumable?.detachedUntil ?? 0) > 0;
      for (const target of targetsOf(r)) {
        writes.push(this.redis.sadd(this.keys.targetMembers(target), r.clientId));
        // Resumable: its targets keep a history. Dropped too: counted as held by sends, not delivered.
        if (r.resumable) writes.push(this.redis.sadd(this.keys.targetResumable(target), r.clientId));
        if (dropped) writes.push(this.redis.sadd(this.keys.targetDetached(target), r.clientId));
      }
    }
    await Promise.all(writes);
  }

  async setDetached(node: string, c: ConnectionBindings, until: number, generation: string): Promise<boolean> {
    return this.markRecord(node, c, until, generation, '', '');
  }

  /** Records a resumable connection's new secret (a resume on its node rotates it). */
  async setSecret(node: string, c: ConnectionBindings, secretHash: string): Promise<boolean> {
    return this.markRecord(node, c, 0, '', secretHash, '');
  }

  /** Marks a resumable connection taken by `by` (handed over by its holder): never adopted or kept again. */
  async setMoved(node: string, c: ConnectionBindings, by: string, until: number): Promise<boolean> {
    return this.markRecord(node, c, -1, '', '', by, until);
  }

  /**
   * One script on the record (see `pushSetDetached`), then the sets of dropped members of its targets: `until` > 0
   * marks it dropped there, 0 attached, and -1 (an offer) leaves them as they are.
   */
  private async markRecord(
    node: string,
    c: ConnectionBindings,
    until: number,
    generation: string,
    secretHash: string,
    offeredTo = '',
    offeredUntil = 0,
  ): Promise<boolean> {
    const k = this.keys;
    const keys = [k.connection(c.clientId), k.nodeDetached(node), k.nodeDeadlines(node), k.nodeClients(node)];
    const args = [c.clientId, until, generation, secretHash, offeredTo, offeredUntil];
    const found = (await this.redis.pushSetDetached(...keys, ...args)) === 1;
    if (!found || until < 0) return found;
    await Promise.all(
      targetsOf(c).map((target) =>
        until > 0 ? this.markDropped(target, c.clientId) : this.redis.srem(k.targetDetached(target), c.clientId),
      ),
    );
    return true;
  }

  /** Counts a connection as dropped in a target's sends, while it is still a member of it. */
  private markDropped(target: Exclude<TargetRef, { kind: 'client' }>, clientId: string): Promise<unknown> {
    return this.redis.pushMarkDropped(this.keys.targetMembers(target), this.keys.targetDetached(target), clientId);
  }

  async adopt(
    node: string,
    clientId: string,
    presentedHash: string,
    by: string,
    offerWindow: number,
  ): Promise<DirectoryAdoption> {
    const k = this.keys;
    const keys = [k.connection(clientId), k.connectionGroups(clientId), k.nodeDeadlines(node), k.nodeResumable(node)];
    const now = Date.now();
    const reply = (await this.redis.pushAdopt(...keys, clientId, presentedHash, by, now, now + offerWindow)) as string[];
    if (reply[0] === 'refused' || reply[0] === 'busy') return { status: reply[0] };
    if (reply[0] !== 'ok') return { status: 'not_found' };
    const [, uid, session, lost, generation, groups, ...sinceFields] = reply;
    const since = new Map<string, ReturnType<typeof parseOffset>>();
    for (let i = 0; i + 1 < sinceFields.length; i += 2) since.set(sinceFields[i], parseOffset(sinceFields[i + 1]));
    const groupList = JSON.parse(groups) as unknown;
    return {
      status: 'ok',
      generation,
      record: {
        clientId,
        uid: uid || null,
        // cjson writes an empty list as {}.
        groups: Array.isArray(groupList) ? (groupList as string[]) : [],
        session: JSON.parse(session) as PushSession,
        since,
        historyLost: lost === '1',
      },
    };
  }

  async markGone(node: string): Promise<void> {
    // Expired now: every node sees it gone (its connections are adopted from here), and the reaper takes the rest. Its
    // stats go at once, as when it is forgotten: the dashboard stops listing it.
    await Promise.all([this.redis.zadd(this.keys.nodes, 'XX', 0, node), this.redis.del(this.keys.nodeStats(node))]);
  }

  async unregister(node: string, connections: readonly ConnectionBindings[]): Promise<void> {
    const ids = connections.map((c) => c.clientId);
    // Read, unlink, then forget (as the reaper does): if the unlink fails, the record still names what to undo.
    const indexed = await this.forget(node, ids, false);
    // Both views: what the holder had and what the index had (they differ after a failed write).
    await this.unlink([...connections, ...indexed]);
    await this.forget(node, ids, true);
  }

  /** Reads (and with `remove`, deletes) connections' own entries; resolves to the bindings they had. */
  private forget(node: string, clientIds: readonly string[], remove: boolean): Promise<ConnectionBindings[]> {
    const held = this.keys.nodeClients(node);
    return Promise.all(
      clientIds.map(async (id) => {
        const keys = [held, this.keys.connection(id), this.keys.connectionGroups(id), ...this.nodeSets(node)];
        return parseBindings(id, await this.redis.pushForget(...keys, id, remove ? '1' : '0'));
      }),
    );
  }

  /** A node's sets of resumable connections: all of them, the dropped ones, and their deadlines (one slot). */
  private nodeSets(node: string): [string, string, string] {
    return [this.keys.nodeResumable(node), this.keys.nodeDetached(node), this.keys.nodeDeadlines(node)];
  }

  async setUid(
    clientId: string,
    previous: string | null,
    uid: string | null,
    since?: { drop: string | null; set: SinceField | null },
  ): Promise<boolean> {
    const sinceArgs = since ? [since.drop ? `s:${since.drop}` : '', ...(since.set ? [`s:${since.set[0]}`, since.set[1] ?? ''] : [])] : [];
    const old = (await this.redis.pushSetUid(this.keys.connection(clientId), uid ?? '', ...sinceArgs)) as string | null;
    if (old === null) return false;
    const writes: Promise<unknown>[] = [];
    for (const stale of new Set([previous, old || null])) {
      if (!stale || stale === uid) continue;
      writes.push(this.redis.srem(this.keys.uidMembers(stale), clientId));
      if (since) writes.push(this.redis.srem(this.keys.targetResumable({ kind: 'uid', name: stale }), clientId));
    }
    if (uid) writes.push(this.redis.sadd(this.keys.uidMembers(uid), clientId));
    if (uid && since) writes.push(this.redis.sadd(this.keys.targetResumable({ kind: 'uid', name: uid }), clientId));
    await Promise.all(writes);
    return true;
  }

  join(clientId: string, group: string, since?: SinceField): Promise<boolean> {
    return this.setGroup(clientId, group, true, since ? [`s:${since[0]}`, since[1] ?? ''] : []);
  }

  leave(clientId: string, group: string, sinceKey?: string): Promise<boolean> {
    return this.setGroup(clientId, group, false, sinceKey ? [`s:${sinceKey}`] : []);
  }

  private async setGroup(clientId: string, group: string, member: boolean, since: string[]): Promise<boolean> {
    const keys = [this.keys.connection(clientId), this.keys.connectionGroups(clientId)];
    const found = (await this.redis.pushSetGroup(...keys, group, member ? '1' : '0', ...since)) === 1;
    // The group's own set is written either way: a leave must not leave a member behind in it.
    const members = this.keys.groupMembers(group);
    const resumable = since.length > 0 ? this.keys.targetResumable({ kind: 'group', name: group }) : null;
    if (member && found) {
      await Promise.all([this.redis.sadd(members, clientId), resumable && this.redis.sadd(resumable, clientId)]);
    } else if (!member) {
      await Promise.all([this.redis.srem(members, clientId), resumable && this.redis.srem(resumable, clientId)]);
    }
    return found;
  }

  async setSession(clientId: string, session: string): Promise<boolean> {
    return (await this.redis.pushSetSession(this.keys.connection(clientId), session)) === 1;
  }

  async host(node: string, kind: 'uid' | 'group', name: string, hosted: boolean): Promise<void> {
    await this.redis.pushHost(...this.hostKeys(kind), name, node, hosted ? '1' : '0');
  }

  async rehost(node: string, uids: readonly string[], groups: readonly string[]): Promise<void> {
    await Promise.all([
      this.redis.pushRehost(...this.hostKeys('uid'), node, ...uids),
      this.redis.pushRehost(...this.hostKeys('group'), node, ...groups),
    ]);
  }

  heldBy(node: string): Promise<string[]> {
    return this.redis.smembers(this.keys.nodeClients(node));
  }

  async heartbeat(node: string, ttl: number): Promise<boolean> {
    return (await this.redis.pushHeartbeat(this.keys.nodes, node, ttl)) === 1;
  }

  async deadNodes(): Promise<string[]> {
    return (await this.redis.pushDeadNodes(this.keys.nodes)) as string[];
  }

  async isAlive(node: string): Promise<boolean> {
    return (await this.redis.pushIsAlive(this.keys.nodes, node)) === 1;
  }

  async reap(node: string, by: string, batch: number, lockTtl: number, resumeWindow?: number): Promise<boolean> {
    if ((await this.redis.set(this.keys.reapLock(node), by, 'PX', lockTtl, 'NX')) !== 'OK') return false;
    const held = this.keys.nodeClients(node);
    if (resumeWindow !== undefined) {
      // Its resumable connections stay adoptable until their windows end: this pass keeps them, a later one removes
      // them, and the node is forgotten once nothing of it is left.
      if (!(await this.keepResumable(node, batch, resumeWindow))) return false;
    } else {
      for (;;) {
        const ids = (await this.redis.srandmember(held, batch)) as string[];
        if (ids.length === 0) break;
        await this.remove(node, ids);
      }
    }
    await this.forgetNode(node);
    await this.redis.del(this.keys.nodeConverted(node));
    return true;
  }

  /** Read, unlink elsewhere, then forget: a reaper that dies half-way leaves it all for the next one to redo. */
  private async remove(node: string, ids: string[]): Promise<void> {
    await this.unlink(await this.forget(node, ids, false));
    await this.forget(node, ids, true);
  }

  /**
   * A gone node's connections, once: the resumable ones are kept, dropped until their window ends; the rest go. Then,
   * each time, the ones whose window ended go. Resolves to whether nothing is left.
   */
  private async keepResumable(node: string, batch: number, window: number): Promise<boolean> {
    const k = this.keys;
    const held = k.nodeClients(node);
    if (!(await this.redis.exists(k.nodeConverted(node)))) {
      const until = Date.now() + window;
      const generation = await this.generation();
      let cursor = '0';
      do {
        const [next, ids] = await this.redis.sscan(held, cursor, 'COUNT', batch);
        cursor = next;
        const verdicts = await Promise.all(
          ids.map(async (id) => {
            const keys = [k.connection(id), k.connectionGroups(id), held, ...this.nodeSets(node)];
            const reply = (await this.redis.pushKeepResumable(...keys, id, until, generation)) as string[];
            const [verdict, ...bindings] = reply;
            return { id, verdict, bindings: parseBindings(id, bindings) };
          }),
        );
        const gone = verdicts.filter((v) => v.verdict === 'forget').map((v) => v.id);
        if (gone.length) await this.remove(node, gone);
        await Promise.all(
          verdicts
            .filter((v) => v.verdict === 'keep')
            .flatMap((v) => targetsOf(v.bindings).map((target) => this.markDropped(target, v.id))),
        );
      } while (cursor !== '0');
      await this.redis.set(k.nodeConverted(node), '1');
    }
    for (;;) {
      const ended = await this.redis.zrangebyscore(k.nodeDeadlines(node), '-inf', Date.now(), 'LIMIT', 0, batch);
      if (ended.length === 0) break;
      await this.remove(node, ended);
    }
    return (await this.redis.scard(held)) === 0;
  }

  async forgetNode(node: string): Promise<void> {
    const k = this.keys;
    await this.redis.pushForgetNode(k.nodes, k.nodeStats(node), ...this.hostKeys('uid'), ...this.hostKeys('group'), node);
  }

  async unhostEverywhere(kind: 'uid' | 'group', name: string): Promise<void> {
    await this.redis.pushUnhostAll(...this.hostKeys(kind), name, NODE_ID_LENGTH);
  }

  /** The three keys of the hosting of uids or groups (one slot). */
  private hostKeys(kind: 'uid' | 'group'): [string, string, string] {
    return [this.keys.hostsByName(kind), this.keys.hostsByNode(kind), this.keys.hostCounts(kind)];
  }

  /**
   * Removes connections from their uid and group sets and (with `everyone`) from the set of everyone. A connection
   * may be listed twice (two views of its bindings); each set is written once.
   */
  private async unlink(connections: readonly ConnectionBindings[], everyone = true): Promise<void> {
    if (connections.length === 0) return;
    const removals = new Map<string, Set<string>>(); // member set → client_ids
    const add = (key: string, clientId: string) => {
      const ids = removals.get(key);
      if (ids) ids.add(clientId);
      else removals.set(key, new Set([clientId]));
    };
    for (const c of connections) {
      for (const target of targetsOf(c, everyone)) {
        add(this.keys.targetMembers(target), c.clientId);
        add(this.keys.targetDetached(target), c.clientId);
        add(this.keys.targetResumable(target), c.clientId);
      }
    }
    await Promise.all([...removals].map(([key, ids]) => this.redis.srem(key, ...ids)));
  }

  // ---- queries -------------------------------------------------------------------------------------------------

  getClients(clientIds: readonly string[]): Promise<(ClientInfo | null)[]> {
    return Promise.all(
      clientIds.map(async (clientId) => {
        const [hash, groups] = await Promise.all([
          this.redis.hgetall(this.keys.connection(clientId)),
          this.redis.smembers(this.keys.connectionGroups(clientId)),
        ]);
        if (!hash || hash.session === undefined) return null;
        return { clientId, uid: hash.uid ?? null, groups, session: JSON.parse(hash.session) as PushSession };
      }),
    );
  }

  getClientIdsByUids(uids: readonly string[]): Promise<string[][]> {
    return Promise.all(uids.map((uid) => this.redis.smembers(this.keys.uidMembers(uid))));
  }

  getClientIdsByGroups(groups: readonly string[]): Promise<string[][]> {
    return Promise.all(groups.map((group) => this.redis.smembers(this.keys.groupMembers(group))));
  }

  getDroppedByGroups(groups: readonly string[]): Promise<string[][]> {
    return Promise.all(groups.map((name) => this.redis.smembers(this.keys.targetDetached({ kind: 'group', name }))));
  }

  countClientsByUids(uids: readonly string[]): Promise<number[]> {
    return Promise.all(uids.map((uid) => this.redis.scard(this.keys.uidMembers(uid))));
  }

  countClientsByGroups(groups: readonly string[]): Promise<number[]> {
    return Promise.all(groups.map((group) => this.redis.scard(this.keys.groupMembers(group))));
  }

  getAllClientIds(): Promise<string[]> {
    return this.redis.smembers(this.keys.clients);
  }

  countClients(): Promise<number> {
    return this.redis.scard(this.keys.clients);
  }

  getAllUids(): Promise<string[]> {
    return this.redis.hkeys(this.keys.uids);
  }

  countUids(): Promise<number> {
    return this.redis.hlen(this.keys.uids);
  }

  getAllGroups(): Promise<string[]> {
    return this.redis.hkeys(this.keys.groups);
  }

  countGroups(): Promise<number> {
    return this.redis.hlen(this.keys.groups);
  }

  // ---- node stats: one small key per node, beside the node directory (one slot) --------------------------------

  async publishNodeStats(node: string, json: string, ttl: number): Promise<void> {
    await this.redis.set(this.keys.nodeStats(node), json, 'PX', ttl);
  }

  async getNodeStats(): Promise<NodeStatsEntry[]> {
    const nodes = await this.redis.zrange(this.keys.nodes, 0, -1);
    if (nodes.length === 0) return [];
    const values = await this.redis.mget(...nodes.map((node) => this.keys.nodeStats(node)));
    const entries: NodeStatsEntry[] = [];
    values.forEach((json, i) => {
      if (json !== null) entries.push({ node: nodes[i], json });
    });
    return entries;
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }

  /**
   * The run_id of every server behind the directory (each master of a cluster): it changes when one restarts. A
   * restarted master of a cluster comes back empty while the connections to the others never dropped, so nothing
   * else tells the engine that part of the index is gone.
   */
  async generation(): Promise<string> {
    const servers = this.redis instanceof Cluster ? this.redis.nodes('master') : [this.redis as Redis];
    // A server that does not answer reads as '?': its return is then the change that triggers the resync, and
    // one dead master does not stop the rest of liveness (the heartbeat, the reaper).
    const ids = await Promise.all(
      servers.map((server) =>
        server.info('server').then(
          (info) => /run_id:(\w+)/.exec(info)?.[1] ?? '?',
          () => '?',
        ),
      ),
    );
    return ids.sort().join(',');
  }
}

/** The targets a connection is a member of: everyone (unless `everyone` is false), its uid, its groups. */
function targetsOf(c: { uid: string | null; groups: readonly string[] }, everyone = true): Exclude<TargetRef, { kind: 'client' }>[] {
  const targets: Exclude<TargetRef, { kind: 'client' }>[] = everyone ? [{ kind: 'all' }] : [];
  if (c.uid) targets.push({ kind: 'uid', name: c.uid });
  for (const group of c.groups) targets.push({ kind: 'group', name: group });
  return targets;
}

/** The resumable fields of a record as `pushRegister` takes them (JSON of hash fields), or '' for a plain one. */
function resumableJson(r: ConnectionRecord): string {
  const resumable = r.resumable;
  if (!resumable) return '';
  const fields: Record<string, string> = { rs: resumable.secretHash };
  for (const [key, offset] of resumable.since) fields[`s:${key}`] = offset ?? '';
  if (resumable.historyLost) fields.hl = '1';
  return JSON.stringify(fields);
}

/** Reads what `pushForget` returns: the uid ('' for none), then the groups. */
function parseBindings(clientId: string, reply: unknown): ConnectionBindings {
  const [uid, ...groups] = reply as string[];
  return { clientId, uid: uid || null, groups };
}

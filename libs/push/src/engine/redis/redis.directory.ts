import { Cluster, type Redis } from 'ioredis';
import type { ClientInfo } from '../../interfaces/client-info.interface';
import type { PushSession } from '../../interfaces/push-message.interface';
import type {
  ClusterDirectory,
  ConnectionBindings,
  ConnectionRecord,
  NodeStatsEntry,
} from '../cluster/cluster-directory';
import { NODE_ID_LENGTH } from '../../identity/client-id';
import { RedisKeys } from './redis-keys';
import { REDIS_SCRIPTS, type RedisScriptName } from './redis.scripts';

type Arg = string | Buffer | number;
/** The scripts as ioredis commands (`defineRedisScripts` adds them to a client). */
export type RedisScripts = Record<RedisScriptName, (...args: Arg[]) => Promise<unknown>>;
/** A command client: one Redis, or a Redis Cluster. */
export type RedisCommands = (Redis | Cluster) & RedisScripts;

/** Adds the engine's scripts to a client as commands (EVALSHA, loaded on first use). */
export function defineRedisScripts(client: Redis | Cluster): RedisCommands {
  for (const [name, script] of Object.entries(REDIS_SCRIPTS)) {
    if ((client as unknown as Record<string, unknown>)[name]) continue; // a caller's client shared by two engines
    client.defineCommand(name, { numberOfKeys: script.keys, lua: script.lua });
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
      const keys = [held, this.keys.connection(r.clientId), this.keys.connectionGroups(r.clientId)];
      return this.redis.pushRegister(...keys, r.clientId, r.session, r.uid ?? '', ...r.groups);
    });
    for (let i = 0; i < records.length; i += BATCH) {
      writes.push(this.redis.sadd(this.keys.clients, ...records.slice(i, i + BATCH).map((r) => r.clientId)));
    }
    for (const r of records) {
      if (r.uid) writes.push(this.redis.sadd(this.keys.uidMembers(r.uid), r.clientId));
      for (const group of r.groups) writes.push(this.redis.sadd(this.keys.groupMembers(group), r.clientId));
    }
    await Promise.all(writes);
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
        const keys = [held, this.keys.connection(id), this.keys.connectionGroups(id)];
        return parseBindings(id, await this.redis.pushForget(...keys, id, remove ? '1' : '0'));
      }),
    );
  }

  async setUid(clientId: string, previous: string | null, uid: string | null): Promise<boolean> {
    const old = (await this.redis.pushSetUid(this.keys.connection(clientId), uid ?? '')) as string | null;
    if (old === null) return false;
    const writes: Promise<unknown>[] = [];
    for (const stale of new Set([previous, old || null])) {
      if (stale && stale !== uid) writes.push(this.redis.srem(this.keys.uidMembers(stale), clientId));
    }
    if (uid) writes.push(this.redis.sadd(this.keys.uidMembers(uid), clientId));
    await Promise.all(writes);
    return true;
  }

  join(clientId: string, group: string): Promise<boolean> {
    return this.setGroup(clientId, group, true);
  }

  leave(clientId: string, group: string): Promise<boolean> {
    return this.setGroup(clientId, group, false);
  }

  private async setGroup(clientId: string, group: string, member: boolean): Promise<boolean> {
    const keys = [this.keys.connection(clientId), this.keys.connectionGroups(clientId)];
    const found = (await this.redis.pushSetGroup(...keys, group, member ? '1' : '0')) === 1;
    // The group's own set is written either way: a leave must not leave a member behind in it.
    const members = this.keys.groupMembers(group);
    if (member && found) await this.redis.sadd(members, clientId);
    else if (!member) await this.redis.srem(members, clientId);
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

  async reap(node: string, by: string, batch: number, lockTtl: number): Promise<boolean> {
    if ((await this.redis.set(this.keys.reapLock(node), by, 'PX', lockTtl, 'NX')) !== 'OK') return false;
    const held = this.keys.nodeClients(node);
    for (;;) {
      const ids = (await this.redis.srandmember(held, batch)) as string[];
      if (ids.length === 0) break;
      // Read, unlink elsewhere, then forget: a reaper that dies half-way leaves it all for the next one to redo.
      await this.unlink(await this.forget(node, ids, false));
      await this.forget(node, ids, true);
    }
    await this.forgetNode(node);
    return true;
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
      if (everyone) add(this.keys.clients, c.clientId);
      if (c.uid) add(this.keys.uidMembers(c.uid), c.clientId);
      for (const group of c.groups) add(this.keys.groupMembers(group), c.clientId);
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

/** Reads what `pushForget` returns: the uid ('' for none), then the groups. */
function parseBindings(clientId: string, reply: unknown): ConnectionBindings {
  const [uid, ...groups] = reply as string[];
  return { clientId, uid: uid || null, groups };
}

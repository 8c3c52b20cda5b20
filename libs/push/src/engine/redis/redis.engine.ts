import { Logger } from '@nestjs/common';
import Redis, { type ChainableCommander } from 'ioredis';
import {
  PushClientNotFoundError,
  PushEngineUnavailableError,
  PushLimitExceededError,
  isPushLimitCode,
} from '../../errors/push.errors';
import { createNodeId, nodeIdOf } from '../../identity/client-id';
import type { ClientInfo } from '../../interfaces/client-info.interface';
import type { PushSession } from '../../interfaces/push-message.interface';
import { serialWrite, serialWriteAll } from '../../local/connection-writes';
import type { LocalConnection } from '../../local/local-connection';
import type { LocalRegistry } from '../../local/local-registry';
import { EncodedMessage } from '../../message/encoded-message';
import type { PushMetrics } from '../../push-metrics.service';
import type { NodeStats } from '../../stats/node-stats.interface';
import { parseNodeStats } from '../../stats/node-stats';
import { deepMerge } from '../../util/deep-merge';
import { redactUrl } from '../../util/redact-url';
import { InitialBinding, PushEngine, PushEngineContext, type PushEngineHealth } from '../push.engine';
import { RedisEngineOptions, ResolvedRedisEngineOptions, resolveRedisEngineOptions } from './redis-engine.options';
import { decodeWire, encodeWire, WireHeader } from './redis-wire';
import { REDIS_SCRIPTS, RedisScriptName } from './redis.scripts';

type ScriptRunner = Record<RedisScriptName, (...args: (string | Buffer | number)[]) => Promise<unknown>>;

interface PendingCall {
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

/** Connections per Redis pipeline or script call when a node writes or removes many at once. */
const BATCH = 500;

/** What ioredis rejects a command with when `commandTimeout` (our `requestTimeout`) fires. */
const COMMAND_TIMED_OUT = 'Command timed out';

/** A node's subscriber is deaf when its own probe has not come back for this many `reapInterval`s. */
const DEAF_AFTER_INTERVALS = 1.5;

/**
 * Many processes and machines behind one Redis.
 *
 * - **Index**: every connection, uid and group lives in Redis sets (see `redis.scripts.ts`), written only by the
 *   node that holds the connection, so every query is answered by Redis alone in one round trip, never by asking
 *   the other nodes.
 * - **Routing**: a node subscribes to a channel per uid and per group it currently hosts, plus its own node channel.
 *   A push to a uid or group is one PUBLISH that only the nodes with members receive; a call aimed at a client_id
 *   goes to the node named in the id. Writes to another node's connection (bind, join, session, close) are
 *   request/reply over the node channels, so the holder stays the single writer and a `bindUid` resolves only
 *   once the holder is subscribed to the uid's channel.
 * - **Failures**: nodes renew a liveness entry; any node removes the entries of a node that stopped renewing.
 *   While Redis is down, local deliveries go on and cluster calls fail at once with `PushEngineUnavailableError`;
 *   when it returns, each node writes its own connections back (nothing reconnects). A subscriber connection
 *   that goes half-open is found by a probe each node sends itself every `reapInterval`: the node withdraws its
 *   connections from the index (so nobody counts pushes it cannot hear), reconnects and writes them back.
 * - **Order**: every write to one connection's entries (register, bind, join, session, unregister, the resync's
 *   write-back) waits for the previous one (`serialWrite`), so none overtakes another.
 */
export class RedisEngine extends PushEngine {
  readonly nodeId = createNodeId();
  private readonly options: ResolvedRedisEngineOptions;
  private readonly logger = new Logger('RedisEngine');
  /** Key and channel prefix: the configured one, plus the database when it is not 0 (pub/sub is server-wide). */
  private prefix: string;
  private cmd!: Redis;
  private sub!: Redis;
  private scripts!: ScriptRunner;
  private registry!: LocalRegistry;
  private metrics!: PushMetrics;
  private readonly subscriptions = new Map<string, Promise<unknown>>();
  private readonly pending = new Map<number, PendingCall>();
  private seq = 0;
  private timer: NodeJS.Timeout | null = null;
  private started = false;
  private closing = false;
  private needsResync = false;
  private resyncAgain = false;
  private resyncing: Promise<void> | null = null;
  /** Ids of this node's probes: the last one sent, and the highest one heard back. */
  private probeSeq = 0;
  private probeHeard = 0;
  /**
   * The oldest probe that Redis accepted and the subscriber has not heard back yet, with when it was sent (null:
   * none). A probe whose PUBLISH is not acknowledged never counts against the subscriber: a slow command
   * connection is not a deaf subscriber.
   */
  private probePending: { id: number; sent: number } | null = null;
  /** The subscriber was found deaf: this node's connections are out of the index until the next resync. */
  private withdrawn = false;

  constructor(options: Omit<RedisEngineOptions, 'type'> & { type?: 'redis' } = {}) {
    super();
    this.options = resolveRedisEngineOptions({ ...options, type: 'redis' });
    this.prefix = this.options.prefix;
  }

  async init(context: PushEngineContext): Promise<void> {
    this.registry = context.registry;
    this.metrics = context.metrics;
    const retryStrategy = (times: number) => Math.min(50 * times, 1000);
    // Commands fail at once while Redis is unreachable (no offline queue, no retries): a cluster call must
    // answer 503 now rather than hang. The subscriber keeps its queue so (un)subscribes replay on reconnect.
    this.cmd = new Redis(this.options.url, {
      ...this.options.redis,
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      // A Redis that stops answering without closing the connection (a partition) must not hang calls either.
      commandTimeout: this.options.requestTimeout,
      // Calls issued in the same turn leave in one write; Redis then publishes them together too, so a burst
      // reaches each node in one read and merges into one fan-out there.
      enableAutoPipelining: true,
      retryStrategy,
    });
    this.sub = new Redis(this.options.url, { ...this.options.redis, lazyConnect: true, retryStrategy });
    const db = Number(this.cmd.options.db ?? 0);
    if (db !== 0) this.prefix = `${this.options.prefix}db${db}:`;
    for (const [name, lua] of Object.entries(REDIS_SCRIPTS)) this.cmd.defineCommand(name, { numberOfKeys: 0, lua });
    this.scripts = this.cmd as unknown as ScriptRunner;
    this.cmd.on('error', (error: Error) => {
      this.metrics.engineErrors++;
      this.logger.debug?.(`redis: ${error.message}`);
    });
    this.sub.on('error', (error: Error) => {
      this.metrics.engineErrors++;
      this.logger.debug?.(`redis subscriber: ${error.message}`);
    });
    this.sub.on('messageBuffer', (channel: Buffer, message: Buffer) => this.onMessage(channel.toString(), message));
    // Either connection coming back means the index or the subscriptions may be stale: the resync re-subscribes
    // (and waits for Redis to confirm) before it makes this node's connections visible again, so nothing is
    // counted as delivered to a node that is not listening yet.
    this.cmd.on('ready', () => {
      if (this.started && !this.closing) this.scheduleResync('redis connection restored');
    });
    this.sub.on('ready', () => {
      if (this.started && !this.closing) this.scheduleResync('redis subscriber restored');
    });
    try {
      await Promise.all([this.cmd.connect(), this.sub.connect()]);
      await Promise.all([this.subscribe(this.channel(`node:${this.nodeId}`)), this.subscribe(this.channel('all'))]);
      await this.scripts.pushHeartbeat(this.prefix, this.nodeId, this.options.nodeTtl);
    } catch (error) {
      this.cmd.disconnect();
      this.sub.disconnect();
      throw new Error(`RedisEngine: cannot reach Redis at ${redactUrl(this.options.url)}: ${(error as Error).message}`);
    }
    this.started = true;
    this.timer = setInterval(() => void this.tick(), this.options.reapInterval);
    this.timer.unref();
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.timer) clearInterval(this.timer);
    for (const call of this.pending.values()) {
      clearTimeout(call.timer);
      call.reject(new PushEngineUnavailableError('the push engine is shutting down'));
    }
    this.pending.clear();
    // Leave the index as if this node had never been: whatever is still held goes, then the node itself.
    try {
      await this.unregisterHeld();
      await this.cmd.zrem(this.key('nodes'), this.nodeId);
      await this.cmd.del(this.statsKey(this.nodeId));
    } catch (error) {
      this.logger.warn(`could not remove this node's entries (the reaper will): ${(error as Error).message}`);
    }
    this.cmd.disconnect();
    this.sub.disconnect();
  }

  /**
   * Redis answers a PING within `timeoutMs` (default `requestTimeout`), and the subscriber hears this node's own
   * probes. Read by `PushHealthIndicator`; never rejects.
   */
  override async health(timeoutMs = this.options.requestTimeout): Promise<PushEngineHealth> {
    const subscriber = this.subscriberState();
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.cmd.ping(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } catch (error) {
      const message = `Redis did not answer a PING: ${(error as Error).message}`;
      return { engine: 'redis', reachable: false, subscriber, message };
    } finally {
      clearTimeout(timer);
    }
    const latencyMs = Math.round((performance.now() - started) * 1000) / 1000;
    const health: PushEngineHealth = { engine: 'redis', reachable: true, latencyMs, subscriber };
    if (subscriber !== 'up') health.message = `the Redis subscriber is ${subscriber}: this node may miss cluster pushes`;
    return health;
  }

  private subscriberState(): NonNullable<PushEngineHealth['subscriber']> {
    if (this.sub.status !== 'ready') return 'reconnecting';
    if (this.withdrawn) return 'resyncing';
    const pending = this.probePending;
    if (pending && Date.now() - pending.sent >= DEAF_AFTER_INTERVALS * this.options.reapInterval) return 'deaf';
    return 'up';
  }

  // ---- the gateway's side --------------------------------------------------------------------------------------

  async register(conn: LocalConnection, initial?: InitialBinding): Promise<void> {
    this.registry.add(conn);
    if (initial?.session) conn.session = structuredClone(initial.session);
    if (initial?.uid) this.registry.setUid(conn, initial.uid);
    await serialWrite(conn, async () => {
      if (!this.registry.holds(conn)) return;
      try {
        const session = JSON.stringify(conn.session);
        await this.scripts.pushRegister(this.prefix, this.nodeId, conn.id, conn.uid ?? '', session);
      } catch (error) {
        // Accepted locally all the same: local pushes reach it, and the resync writes it once Redis is back.
        this.indexWriteFailed('register', error);
      }
    });
    if (conn.uid) await this.syncSubscription('u', conn.uid, this.registry.connectionsOfUid(conn.uid));
  }

  async unregister(conn: LocalConnection): Promise<ClientInfo> {
    // Off the local index at once (no push reaches a closed socket); off Redis after any write still in flight for
    // it, which then finds it gone and leaves nothing behind.
    const info = this.registry.remove(conn);
    if (info.uid) void this.syncSubscription('u', info.uid, this.registry.connectionsOfUid(info.uid));
    for (const group of info.groups) void this.syncSubscription('g', group, this.registry.connectionsOfGroup(group));
    await serialWrite(conn, async () => {
      try {
        await this.scripts.pushUnregister(this.prefix, conn.id);
      } catch (error) {
        this.indexWriteFailed('unregister', error);
      }
    });
    return info;
  }

  // ---- send ----------------------------------------------------------------------------------------------------

  async sendToClient(clientId: string, message: EncodedMessage): Promise<number> {
    if (nodeIdOf(clientId) === this.nodeId) {
      const conn = this.registry.get(clientId);
      return conn ? this.registry.deliver([conn], message) : 0;
    }
    const payload = this.payload('clients', message, { c: [clientId] });
    return this.run(() => this.scripts.pushSendClients(this.prefix, this.nodeId, payload, clientId)) as Promise<number>;
  }

  async sendToClients(clientIds: string[], message: EncodedMessage, exclude: ReadonlySet<string> | null): Promise<number> {
    const local = new Set<LocalConnection>();
    const remote = new Set<string>();
    for (const id of clientIds) {
      if (exclude?.has(id)) continue;
      if (nodeIdOf(id) !== this.nodeId) remote.add(id);
      else {
        const conn = this.registry.get(id);
        if (conn) local.add(conn);
      }
    }
    const delivered = this.registry.deliver(local, message);
    if (remote.size === 0) return delivered;
    const ids = [...remote];
    const payload = this.payload('clients', message, { c: ids });
    return this.fanout(delivered, 0, () =>
      this.scripts.pushSendClients(this.prefix, this.nodeId, payload, ...ids) as Promise<number>,
    );
  }

  async sendToUids(uids: string[], message: EncodedMessage): Promise<number> {
    const unique = [...new Set(uids)];
    const local: Promise<number>[] = [];
    let localMembers = 0;
    for (const uid of unique) {
      const conns = this.registry.connectionsOfUid(uid);
      if (!conns) continue;
      localMembers += conns.size;
      local.push(Promise.resolve(this.registry.deliver(conns, message)));
    }
    const delivered = Promise.all(local).then((counts) => counts.reduce((a, b) => a + b, 0));
    const payload = this.payload('send', message);
    return this.fanout(delivered, localMembers, () =>
      this.scripts.pushSendUids(this.prefix, payload, ...unique) as Promise<number>,
    );
  }

  async sendToGroups(groups: string[], message: EncodedMessage, exclude: ReadonlySet<string> | null): Promise<number> {
    const unique = [...new Set(groups)];
    const local = new Set<LocalConnection>();
    for (const group of unique) {
      const members = this.registry.connectionsOfGroup(group);
      if (members) for (const conn of members) if (!exclude?.has(conn.id)) local.add(conn);
    }
    const delivered = this.registry.deliver(local, message);
    const excluded = exclude ? [...exclude] : [];
    return this.fanout(delivered, local.size, () => {
      if (unique.length === 1) {
        const payload = this.payload('send', message, excluded.length ? { x: excluded } : {});
        return this.scripts.pushSendGroup(this.prefix, unique[0], payload, ...excluded) as Promise<number>;
      }
      const payload = this.payload('groups', message, { g: unique, ...(excluded.length ? { x: excluded } : {}) });
      return this.scripts.pushSendGroups(
        this.prefix,
        this.nodeId,
        payload,
        unique.length,
        ...unique,
        ...excluded,
      ) as Promise<number>;
    });
  }

  async sendToAll(message: EncodedMessage, exclude: ReadonlySet<string> | null): Promise<number> {
    let localMembers = this.registry.size;
    if (exclude) for (const id of exclude) if (this.registry.get(id)) localMembers--;
    const delivered = this.registry.deliver(this.registry.all, message, exclude);
    const excluded = exclude ? [...exclude] : [];
    const payload = this.payload('send', message, excluded.length ? { x: excluded } : {});
    return this.fanout(delivered, localMembers, () =>
      this.scripts.pushSendAll(this.prefix, payload, ...excluded) as Promise<number>,
    );
  }

  // ---- bind ----------------------------------------------------------------------------------------------------

  async bindUid(clientId: string, uid: string): Promise<void> {
    await this.found(clientId, this.onHolder(clientId, { op: 'bind', u: uid }, () => this.localSetUid(clientId, uid)));
  }

  async unbindUid(clientId: string): Promise<void> {
    await this.found(clientId, this.onHolder(clientId, { op: 'unbind' }, () => this.localSetUid(clientId, null)));
  }

  async joinGroup(clientId: string, group: string): Promise<void> {
    await this.found(clientId, this.onHolder(clientId, { op: 'join', g: group }, () => this.localJoin(clientId, group)));
  }

  async leaveGroup(clientId: string, group: string): Promise<void> {
    await this.found(
      clientId,
      this.onHolder(clientId, { op: 'leave', g: group }, () => this.localLeave(clientId, group)),
    );
  }

  async ungroup(group: string): Promise<number> {
    const dropped = this.registry.dropGroup(group).length;
    void this.syncSubscription('g', group, undefined);
    const payload = encodeWire({ o: this.nodeId, op: 'ungroup' });
    const total = (await this.run(
      () => this.scripts.pushUngroup(this.prefix, group, this.channel(`g:${group}`), payload),
      dropped,
    )) as number;
    return Math.max(total, dropped);
  }

  // ---- control -------------------------------------------------------------------------------------------------

  async closeClient(clientId: string, finalMessage: EncodedMessage | null, destroy: boolean): Promise<boolean> {
    const request: { op: string; [key: string]: unknown } = { op: 'close', ...(destroy ? { d: 1 } : {}) };
    if (finalMessage) Object.assign(request, { f: 1, ...(finalMessage.binary ? { b: 1 } : {}) });
    const result = await this.onHolder(
      clientId,
      request,
      async () => this.localClose(clientId, finalMessage, destroy),
      finalMessage?.data,
    );
    return result === true;
  }

  async closeUid(uid: string): Promise<number> {
    let closed = 0;
    const conns = this.registry.connectionsOfUid(uid);
    if (conns) for (const conn of [...conns]) if (this.registry.close(conn, 1000, 'closed-by-server')) closed++;
    const payload = encodeWire({ o: this.nodeId, op: 'close' });
    const total = (await this.run(() => this.scripts.pushCloseUid(this.prefix, uid, payload), closed)) as number;
    return Math.max(total, closed);
  }

  // ---- session -------------------------------------------------------------------------------------------------

  async setSession(clientId: string, session: PushSession): Promise<void> {
    await this.found(
      clientId,
      this.onHolder(
        clientId,
        { op: 'setSession', s: session },
        async () => (await this.localSession(clientId, session, false)) !== null,
      ),
    );
  }

  async updateSession(clientId: string, patch: PushSession): Promise<PushSession> {
    const merged = await this.onHolder(clientId, { op: 'updateSession', s: patch }, () =>
      this.localSession(clientId, patch, true),
    );
    if (!merged) throw new PushClientNotFoundError(clientId);
    return merged as PushSession;
  }

  // ---- queries: one round trip each, answered by the index -----------------------------------------------------

  async getClients(clientIds: string[]): Promise<(ClientInfo | null)[]> {
    const results = await this.pipeline((p) => {
      for (const id of clientIds) p.hgetall(this.key(`c:${id}`)).smembers(this.key(`cg:${id}`));
    });
    return clientIds.map((clientId, i) => {
      const hash = results[2 * i] as Record<string, string>;
      if (!hash || hash.session === undefined) return null;
      return {
        clientId,
        uid: hash.uid ?? null,
        groups: results[2 * i + 1] as string[],
        session: JSON.parse(hash.session) as PushSession,
      };
    });
  }

  async getClientIdsByUids(uids: string[]): Promise<string[][]> {
    return (await this.pipeline((p) => uids.forEach((uid) => p.smembers(this.key(`u:${uid}`))))) as string[][];
  }

  async getClientIdsByGroups(groups: string[]): Promise<string[][]> {
    return (await this.pipeline((p) => groups.forEach((g) => p.smembers(this.key(`g:${g}`))))) as string[][];
  }

  async countClientsByGroups(groups: string[]): Promise<number[]> {
    return (await this.pipeline((p) => groups.forEach((g) => p.scard(this.key(`g:${g}`))))) as number[];
  }

  async countClientsByUids(uids: string[]): Promise<number[]> {
    return (await this.pipeline((p) => uids.forEach((uid) => p.scard(this.key(`u:${uid}`))))) as number[];
  }

  getAllClientIds(): Promise<string[]> {
    return this.run(() => this.cmd.smembers(this.key('clients')));
  }

  countClients(): Promise<number> {
    return this.run(() => this.cmd.scard(this.key('clients')));
  }

  getAllUids(): Promise<string[]> {
    return this.run(() => this.cmd.smembers(this.key('uids')));
  }

  countUids(): Promise<number> {
    return this.run(() => this.cmd.scard(this.key('uids')));
  }

  getAllGroups(): Promise<string[]> {
    return this.run(() => this.cmd.smembers(this.key('groups')));
  }

  countGroups(): Promise<number> {
    return this.run(() => this.cmd.scard(this.key('groups')));
  }

  // ---- node stats: one small key per node, read with the node directory -----------------------------------------

  /** One `SET P node-stats:<node> <json> PX ttl`: the key expires by itself when this node stops publishing. */
  override async publishNodeStats(stats: NodeStats, ttl: number): Promise<void> {
    await this.run(() => this.cmd.set(this.statsKey(this.nodeId), JSON.stringify(stats), 'PX', Math.ceil(ttl)));
  }

  /**
   * Two round trips: the node directory (`ZRANGE P nodes`, every node not yet reaped), then one MGET of their
   * stats keys. A node whose key expired (it stopped publishing) or was deleted (it closed) is left out; a value
   * that is not a snapshot is counted in `badClusterMessages` and left out.
   */
  override async getClusterStats(): Promise<NodeStats[]> {
    const nodes = await this.run(() => this.cmd.zrange(this.key('nodes'), 0, -1));
    if (nodes.length === 0) return [];
    const values = await this.run(() => this.cmd.mget(...nodes.map((node) => this.statsKey(node))));
    const stats: NodeStats[] = [];
    values.forEach((json, i) => {
      if (json === null) return;
      const parsed = parseNodeStats(json);
      if (parsed && parsed.nodeId === nodes[i]) stats.push(parsed);
      else this.metrics.badClusterMessages++;
    });
    return stats.sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0));
  }

  private statsKey(node: string): string {
    return this.key(`node-stats:${node}`);
  }

  // ---- what the holder of a connection does (directly, or for another node's request) --------------------------

  private localSetUid(clientId: string, uid: string | null): Promise<boolean> {
    return this.holderWrite(clientId, async (conn) => {
      await this.indexWrite(() => this.scripts.pushSetUid(this.prefix, clientId, uid ?? ''));
      if (!this.registry.holds(conn)) return false; // closed meanwhile: its unregister, queued behind, cleans up
      const previous = this.registry.setUid(conn, uid);
      if (previous !== null && previous !== uid) {
        void this.syncSubscription('u', previous, this.registry.connectionsOfUid(previous));
      }
      if (uid !== null) await this.syncSubscription('u', uid, this.registry.connectionsOfUid(uid));
      return true;
    }, false);
  }

  private localJoin(clientId: string, group: string): Promise<boolean> {
    return this.holderWrite(clientId, async (conn) => {
      this.registry.checkJoin(conn, group);
      await this.indexWrite(() => this.scripts.pushJoin(this.prefix, clientId, group));
      if (!this.registry.holds(conn)) return false;
      this.registry.join(conn, group);
      await this.syncSubscription('g', group, this.registry.connectionsOfGroup(group));
      return true;
    }, false);
  }

  private localLeave(clientId: string, group: string): Promise<boolean> {
    return this.holderWrite(clientId, async (conn) => {
      await this.indexWrite(() => this.scripts.pushLeave(this.prefix, clientId, group));
      if (!this.registry.holds(conn)) return false;
      this.registry.leave(conn, group);
      void this.syncSubscription('g', group, this.registry.connectionsOfGroup(group));
      return true;
    }, false);
  }

  private localSession(clientId: string, value: PushSession, merge: boolean): Promise<PushSession | null> {
    return this.holderWrite(clientId, async (conn) => {
      // Read inside the write turn: the base is the result of every earlier write, never a stale copy.
      const next = merge ? deepMerge(conn.session, structuredClone(value)) : structuredClone(value);
      const json = JSON.stringify(next);
      this.registry.checkSession(json);
      await this.indexWrite(() => this.scripts.pushSetSession(this.prefix, clientId, json));
      if (!this.registry.holds(conn)) return null;
      conn.session = next;
      return structuredClone(next);
    }, null);
  }

  /**
   * Runs a write on a connection this node holds, in its write turn; `absent` when it is not (or no longer)
   * connected by the time its turn comes.
   */
  private holderWrite<T, A>(clientId: string, write: (conn: LocalConnection) => Promise<T>, absent: A): Promise<T | A> {
    const conn = this.registry.get(clientId);
    if (!conn) return Promise.resolve(absent);
    return serialWrite<T | A>(conn, () => (this.registry.holds(conn) ? write(conn) : Promise.resolve(absent)));
  }

  private localClose(clientId: string, finalMessage: EncodedMessage | null, destroy: boolean): boolean {
    const conn = this.registry.get(clientId);
    if (!conn) return false;
    return destroy ? this.registry.destroy(conn) : this.registry.close(conn, 1000, 'closed-by-server', finalMessage);
  }

  // ---- routing -------------------------------------------------------------------------------------------------

  /** Runs `local` when this node holds the client, otherwise asks the holder and waits for its answer. */
  private async onHolder(
    clientId: string,
    request: { op: string; [key: string]: unknown },
    local: () => Promise<unknown> | unknown,
    body?: Buffer,
  ): Promise<unknown> {
    const node = nodeIdOf(clientId);
    if (node === this.nodeId) return local();
    const id = ++this.seq;
    const payload = encodeWire({ o: this.nodeId, id, c: clientId, ...request }, body);
    const answer = new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        this.metrics.requestTimeouts++;
        reject(new PushEngineUnavailableError(`node ${node} did not answer within ${this.options.requestTimeout} ms`));
      }, this.options.requestTimeout);
      this.pending.set(id, { resolve, reject, timer });
    });
    let receivers: number;
    try {
      receivers = (await this.run(() => this.scripts.pushCallNode(this.prefix, node, payload))) as number;
    } catch (error) {
      this.settle(id, error as Error);
      throw error;
    }
    // Nobody listens on that node's channel: the node is gone, and so is the client; or the node is alive and
    // its subscriber is reconnecting, which is not the client's absence but a moment's unavailability.
    if (receivers === 0) this.settle(id, null, false);
    else if (receivers < 0) {
      this.settle(id, new PushEngineUnavailableError(`node ${node} is alive but not listening (reconnecting to Redis)`));
    }
    return answer;
  }

  private settle(id: number, error: Error | null, value?: unknown): void {
    const call = this.pending.get(id);
    if (!call) return;
    this.pending.delete(id);
    clearTimeout(call.timer);
    if (error) call.reject(error);
    else call.resolve(value);
  }

  private onMessage(channel: string, payload: Buffer): void {
    let header: WireHeader;
    let body: Buffer;
    try {
      ({ header, body } = decodeWire(payload));
    } catch (error) {
      this.metrics.badClusterMessages++;
      this.logger.error(`dropped a malformed cluster message on ${channel}: ${(error as Error).message}`);
      return;
    }
    const name = channel.slice(this.prefix.length + 3); // after "<prefix>ch:"
    if (name.startsWith('node:')) return void this.onNodeMessage(header, body);
    if (header.o === this.nodeId) return; // already delivered locally before publishing
    const exclude = header.x ? new Set(header.x) : null;
    if (name === 'all') {
      this.deliverRemote(this.registry.all, EncodedMessage.fromWire(body, header.b === 1), exclude);
    } else if (name.startsWith('u:')) {
      const conns = this.registry.connectionsOfUid(name.slice(2));
      if (!conns) return;
      if (header.op === 'close') for (const conn of [...conns]) this.registry.close(conn, 1000, 'closed-by-server');
      else this.deliverRemote(conns, EncodedMessage.fromWire(body, header.b === 1), null);
    } else if (name.startsWith('g:')) {
      const group = name.slice(2);
      if (header.op === 'ungroup') {
        this.registry.dropGroup(group);
        void this.syncSubscription('g', group, undefined);
        return;
      }
      const members = this.registry.connectionsOfGroup(group);
      if (members) this.deliverRemote(members, EncodedMessage.fromWire(body, header.b === 1), exclude);
    }
  }

  /** Delivers a push that another node published; one refused by the fan-out bound is counted there, not thrown. */
  private deliverRemote(
    targets: Iterable<LocalConnection> | ReadonlyMap<string, LocalConnection>,
    message: EncodedMessage,
    exclude: ReadonlySet<string> | null,
  ): void {
    try {
      void this.registry.deliver(targets, message, exclude);
    } catch (error) {
      if (!(error instanceof PushLimitExceededError)) throw error;
      this.logger.debug?.(`dropped a cluster push: ${error.message}`);
    }
  }

  private async onNodeMessage(header: WireHeader, body: Buffer): Promise<void> {
    const exclude = header.x ? new Set(header.x) : null;
    switch (header.op) {
      case 'probe':
        if (header.o === this.nodeId && typeof header.id === 'number') {
          this.probeHeard = Math.max(this.probeHeard, header.id);
          if (this.probePending && this.probeHeard >= this.probePending.id) this.probePending = null;
        }
        return;
      case 'reply':
        return this.settle(header.id as number, header.e ? remoteError(header) : null, header.r);
      case 'clients': {
        const targets = new Set<LocalConnection>();
        for (const id of header.c as string[]) {
          const conn = this.registry.get(id);
          if (conn) targets.add(conn);
        }
        this.deliverRemote(targets, EncodedMessage.fromWire(body, header.b === 1), exclude);
        return;
      }
      case 'groups': {
        const targets = new Set<LocalConnection>();
        for (const group of header.g as string[]) {
          const members = this.registry.connectionsOfGroup(group);
          if (members) for (const conn of members) targets.add(conn);
        }
        this.deliverRemote(targets, EncodedMessage.fromWire(body, header.b === 1), exclude);
        return;
      }
      default:
        return this.answer(header, body);
    }
  }

  /** Serves another node's call on one of this node's connections, and replies on that node's channel. */
  private async answer(header: WireHeader, body: Buffer): Promise<void> {
    const clientId = header.c as string;
    let result: unknown;
    let error: string | undefined;
    const extra: Record<string, unknown> = {};
    try {
      switch (header.op) {
        case 'bind':
          result = await this.localSetUid(clientId, header.u as string);
          break;
        case 'unbind':
          result = await this.localSetUid(clientId, null);
          break;
        case 'join':
          result = await this.localJoin(clientId, header.g as string);
          break;
        case 'leave':
          result = await this.localLeave(clientId, header.g as string);
          break;
        case 'setSession':
          result = (await this.localSession(clientId, header.s as PushSession, false)) !== null;
          break;
        case 'updateSession':
          result = await this.localSession(clientId, header.s as PushSession, true);
          break;
        case 'close':
          result = this.localClose(
            clientId,
            header.f ? EncodedMessage.fromWire(body, header.b === 1) : null,
            header.d === 1,
          );
          break;
        default:
          this.metrics.badClusterMessages++;
          error = `unknown cluster operation ${JSON.stringify(header.op)}`;
      }
    } catch (failure) {
      error = (failure as Error).message;
      if (failure instanceof PushLimitExceededError) Object.assign(extra, { k: failure.code, l: failure.limit });
    }
    if (header.id === undefined) return;
    const reply = encodeWire({
      o: this.nodeId,
      op: 'reply',
      id: header.id,
      r: result,
      ...(error ? { e: error, ...extra } : {}),
    });
    try {
      await this.cmd.publish(this.channel(`node:${header.o}`), reply);
    } catch (failure) {
      this.failed(failure);
      this.logger.warn(`could not answer node ${header.o}: ${(failure as Error).message}`);
    }
  }

  // ---- subscriptions, liveness, resync -------------------------------------------------------------------------

  /** Subscribes to a uid's or group's channel while this node has members, and leaves it when it has none. */
  private syncSubscription(kind: 'u' | 'g', name: string, members: ReadonlySet<unknown> | undefined): Promise<unknown> {
    const channel = this.channel(`${kind}:${name}`);
    const subscribed = this.subscriptions.get(channel);
    if (members && members.size > 0) {
      const done = subscribed ?? this.subscribe(channel);
      // While the subscriber is reconnecting the request waits in its queue: do not hold the caller for it.
      return this.sub.status === 'ready' ? done : Promise.resolve();
    }
    if (subscribed) {
      this.subscriptions.delete(channel);
      return this.sub.unsubscribe(channel).catch(() => undefined);
    }
    return Promise.resolve();
  }

  private subscribe(channel: string): Promise<unknown> {
    const done = this.sub.subscribe(channel).catch((error: Error) => {
      // ioredis replays subscriptions after a reconnect; the resync re-checks the rest.
      this.logger.debug?.(`subscribe ${channel}: ${error.message}`);
    });
    this.subscriptions.set(channel, done);
    return done;
  }

  private async tick(): Promise<void> {
    if (this.closing) return;
    this.probe();
    try {
      const absent = await this.scripts.pushHeartbeat(this.prefix, this.nodeId, this.options.nodeTtl);
      if (absent === 1) this.scheduleResync('this node was missing from the index');
      else if (this.needsResync) this.scheduleResync('an index write failed earlier');
      const dead = (await this.scripts.pushDeadNodes(this.prefix)) as string[];
      for (const node of dead) if (node !== this.nodeId) await this.reap(node);
    } catch (error) {
      this.failed(error);
      this.logger.debug?.(`liveness tick failed: ${(error as Error).message}`);
    }
  }

  /**
   * Checks that the subscriber still hears this node's own channel. A half-open connection (a partition: no FIN,
   * no RST) stays silent for hours before the OS notices, while Redis keeps counting it as a listener; so each
   * node publishes a probe to itself every `reapInterval`, and one not heard back within
   * `DEAF_AFTER_INTERVALS × reapInterval` means the subscriber is deaf. Found within 3 × reapInterval.
   */
  private probe(): void {
    if (this.sub.status !== 'ready' || this.withdrawn) {
      this.probePending = null; // reconnecting: the 'ready' resync takes over
      return;
    }
    const pending = this.probePending;
    if (pending && Date.now() - pending.sent >= DEAF_AFTER_INTERVALS * this.options.reapInterval) {
      // Judged after this turn's I/O: a stalled event loop may have the echo waiting, unread, in the socket.
      setImmediate(() => {
        if (this.probePending === pending && !this.closing) void this.subscriberDeaf(Date.now() - pending.sent);
      });
    }
    const id = ++this.probeSeq;
    const sent = Date.now();
    this.cmd.publish(this.channel(`node:${this.nodeId}`), encodeWire({ o: this.nodeId, op: 'probe', id })).then(
      () => {
        // Its echo may have been read before this reply: then it is not pending.
        if (this.probeHeard < id && this.probePending === null) this.probePending = { id, sent };
      },
      () => undefined, // Redis itself is unreachable: not the subscriber's fault, the command path reports it
    );
  }

  /**
   * The subscriber is deaf: take this node's connections out of the index at once, so that other nodes stop
   * counting pushes this node cannot hear, then reconnect it; its 'ready' resync subscribes again and writes
   * everything back.
   */
  private async subscriberDeaf(silentMs: number): Promise<void> {
    this.probePending = null;
    this.withdrawn = true;
    this.logger.warn(
      `the Redis subscriber has not heard this node's probe for ${silentMs} ms (half-open connection?): ` +
        `withdrawing ${this.registry.size} connection(s) from the index and reconnecting it`,
    );
    try {
      await this.unregisterHeld();
    } catch (error) {
      this.failed(error);
      this.logger.warn(`could not withdraw this node's connections: ${(error as Error).message}`);
    }
    // Counted once the withdrawal is written: from then on no other node counts a push this node cannot hear.
    this.metrics.subscriberResets++;
    this.needsResync = true;
    this.sub.disconnect(true);
  }

  /** Removes every connection this node holds from the index (its local registry is left as it is). */
  private unregisterHeld(): Promise<number> {
    return this.forEachBatch(async (batch) => {
      if (batch.length) await this.scripts.pushUnregister(this.prefix, ...batch.map((conn) => conn.id));
    });
  }

  /**
   * Runs `write` over this node's connections in batches of `BATCH`, each batch in the write turn of all of its
   * connections, with only those still registered when the turn comes.
   */
  private async forEachBatch(write: (batch: LocalConnection[]) => Promise<void>): Promise<number> {
    const conns = [...this.registry.connections()];
    let written = 0;
    for (let i = 0; i < conns.length; i += BATCH) {
      const batch = conns.slice(i, i + BATCH);
      await serialWriteAll(batch, async () => {
        const live = batch.filter((conn) => this.registry.holds(conn));
        written += live.length;
        await write(live);
      });
    }
    return written;
  }

  /** Removes a dead node's connections from the index, in batches; one node does it (a short lock). */
  private async reap(node: string): Promise<void> {
    const lock = await this.cmd.set(this.key(`reap:${node}`), this.nodeId, 'PX', this.options.nodeTtl, 'NX');
    if (lock !== 'OK') return;
    let left = 1;
    while (left > 0 && !this.closing) left = (await this.scripts.pushReap(this.prefix, node, BATCH)) as number;
    this.logger.log(`removed the connections of dead node ${node}`);
  }

  private scheduleResync(reason: string): void {
    this.needsResync = true;
    if (this.resyncing) {
      this.resyncAgain = true; // a trigger during a run must not be lost: it may concern a later reconnect
      return;
    }
    this.resyncing = this.resync(reason).finally(() => {
      this.resyncing = null;
      if (this.resyncAgain && !this.closing) {
        this.resyncAgain = false;
        this.scheduleResync(reason);
      }
    });
  }

  /** Resolves once the subscriber connection is ready (or rejects after requestTimeout). */
  private subscriberReady(): Promise<void> {
    if (this.sub.status === 'ready') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.sub.off('ready', onReady);
        reject(new Error('the subscriber connection is not ready'));
      }, this.options.requestTimeout);
      const onReady = () => {
        clearTimeout(timer);
        resolve();
      };
      this.sub.once('ready', onReady);
    });
  }

  /** Writes this node's own connections back into the index, and removes what it no longer holds. */
  private async resync(reason: string): Promise<void> {
    this.needsResync = false;
    try {
      // First listen again on every channel this node needs, confirmed by Redis; only then publish the index.
      await this.subscriberReady();
      const channels = [this.channel(`node:${this.nodeId}`), this.channel('all')];
      for (const uid of this.registry.uids()) channels.push(this.channel(`u:${uid}`));
      for (const group of this.registry.groups()) channels.push(this.channel(`g:${group}`));
      for (let i = 0; i < channels.length; i += BATCH) await this.sub.subscribe(...channels.slice(i, i + BATCH));
      await this.scripts.pushHeartbeat(this.prefix, this.nodeId, this.options.nodeTtl);
      const indexed = await this.cmd.smembers(this.key(`n:${this.nodeId}`));
      const stale = indexed.filter((id) => !this.registry.get(id));
      for (let i = 0; i < stale.length; i += BATCH) {
        await this.scripts.pushUnregister(this.prefix, ...stale.slice(i, i + BATCH));
      }
      // Each batch is written in its connections' write turn, from their state at that moment: a connection closed
      // since the snapshot is skipped (not resurrected), and a bind in flight lands before it (not rolled back).
      const restored = await this.forEachBatch(async (batch) => {
        if (batch.length === 0) return;
        const pipeline = this.cmd.pipeline() as unknown as ChainableCommander & ScriptRunner;
        for (const conn of batch) {
          const session = JSON.stringify(conn.session);
          void pipeline.pushRegister(this.prefix, this.nodeId, conn.id, conn.uid ?? '', session, ...conn.groups);
        }
        await checkedExec(pipeline);
      });
      this.withdrawn = false;
      this.metrics.engineResyncs++;
      this.logger.log(`restored ${restored} connection(s) in the index (${reason})`);
    } catch (error) {
      this.failed(error);
      this.needsResync = true;
      this.logger.warn(`resync failed, will retry: ${(error as Error).message}`);
    }
  }

  // ---- plumbing ------------------------------------------------------------------------------------------------

  private key(name: string): string {
    return this.prefix + name;
  }

  private channel(name: string): string {
    return `${this.prefix}ch:${name}`;
  }

  private payload(op: string, message: EncodedMessage, extra: Record<string, unknown> = {}): Buffer {
    const header = { o: this.nodeId, op, ...(message.binary ? { b: 1 as const } : {}), ...extra };
    return encodeWire(header, message.data);
  }

  private async found(clientId: string, result: Promise<unknown>): Promise<void> {
    if ((await result) !== true) throw new PushClientNotFoundError(clientId);
  }

  /** Runs a Redis call; any failure becomes a typed 503. */
  private async run<T>(call: () => Promise<T>, deliveredLocally?: number): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if (!(error instanceof PushEngineUnavailableError)) this.failed(error);
      throw unavailable(error, deliveredLocally);
    }
  }

  /**
   * A push that went out locally and to the other nodes at once: the local part never waits for Redis, and the
   * count is what this node delivered plus the members the index knows elsewhere.
   */
  private async fanout(local: number | Promise<number>, localMembers: number, remote: () => Promise<number>) {
    let total: number;
    try {
      total = await remote();
    } catch (error) {
      this.failed(error);
      throw unavailable(error, await local);
    }
    return (await local) + Math.max(0, total - localMembers);
  }

  private async indexWrite(call: () => Promise<unknown>): Promise<void> {
    const written = await this.run(call);
    // 0: the index does not know this connection (Redis lost its data): the resync writes it whole.
    if (written === 0) this.scheduleResync('a connection was missing from the index');
  }

  private indexWriteFailed(what: string, error: unknown): void {
    this.failed(error);
    this.needsResync = true;
    this.logger.warn(`${what} not written to Redis, will resync: ${(error as Error).message}`);
  }

  /** Counts a failed Redis command (and a timed-out one as a request timeout too). */
  private failed(error: unknown): void {
    this.metrics.engineErrors++;
    if ((error as Error)?.message === COMMAND_TIMED_OUT) this.metrics.requestTimeouts++;
  }

  private async pipeline(fill: (p: ChainableCommander) => void): Promise<unknown[]> {
    return this.run(async () => {
      const p = this.cmd.pipeline();
      fill(p);
      return checkedExec(p);
    });
  }
}

/** The error a holder node reported in its reply, typed again: a refused limit stays a limit, anything else is 503. */
function remoteError(header: WireHeader): Error {
  const message = String(header.e);
  if (isPushLimitCode(header.k)) {
    return new PushLimitExceededError(header.k, message, Number(header.l));
  }
  return new PushEngineUnavailableError(message);
}

function unavailable(error: unknown, deliveredLocally?: number): PushEngineUnavailableError {
  if (error instanceof PushEngineUnavailableError) return error;
  const local = deliveredLocally === undefined ? '' : ` (${deliveredLocally} delivered on this node)`;
  return new PushEngineUnavailableError(`Redis is unavailable: ${(error as Error).message}${local}`, {
    cause: error,
    delivered: deliveredLocally,
  });
}

async function checkedExec(pipeline: ChainableCommander): Promise<unknown[]> {
  const results = (await pipeline.exec()) ?? [];
  return results.map(([error, value]) => {
    if (error) throw error;
    return value;
  });
}

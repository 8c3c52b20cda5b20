import Redis, { type Cluster, type RedisOptions } from 'ioredis';
import { REDIS_CLUSTER_SLOTS, redisKeySlot } from './redis-key-slot';
import type { RedisListener } from './redis.transport';

/** Options of {@link RedisShardListener}. */
export interface RedisShardListenerOptions {
  /** Options of each master's subscriber connection (TLS, password, …); host and port come from the slot map. */
  redisOptions?: RedisOptions;
  /** Delay before each reconnect attempt of a subscriber connection. Default: 50 ms × attempt, at most 1 s. */
  retryStrategy?: (times: number) => number | null;
}

/** Channels per SSUBSCRIBE when a connection subscribes again to everything it holds. */
const BATCH = 500;

/** One master's subscriber connection and the channels subscribed on it. */
interface Shard {
  readonly key: string;
  readonly redis: Redis;
  /** Channels subscribed on this connection (a subset of the listener's channels). */
  readonly channels: Set<string>;
}

/** A channel the engine subscribed to: its slot, and the shard that holds it (none while its slot has no master). */
interface Subscription {
  readonly slot: number;
  shard: Shard | undefined;
}

const defaultRetry = (times: number) => Math.min(50 * times, 1000);

/**
 * Sharded pub/sub on a Redis Cluster over one standalone subscriber connection per master, opened by us instead of
 * ioredis's `shardedSubscribers` (which, in 5.9.2, retries a dead master with no backoff, burning a core and
 * re-SSUBSCRIBEing every channel on every attempt). Each connection reconnects with a backoff and queues nothing
 * while its master is away: a channel subscribed meanwhile is only recorded, and leaves with all the others of
 * that master when its connection is ready again.
 *
 * Channels are routed by the command `Cluster`'s slot map (`cluster.slots`, refreshed by ioredis on its `refresh`)
 * and their hash slot; one SSUBSCRIBE never mixes slots. The listener remembers every channel it was asked to
 * subscribe to (until unsubscribed), and subscribes a master's connection to all of its channels again each time
 * that connection is ready. The set is bounded by what the engine subscribes to: its node channel, the broadcast
 * channel, and one channel per uid or group that has a client on this node (all bounded by the engine's limits).
 *
 * When the slot map changes (a `refresh` of the command Cluster, or a `MOVED` answered to a SSUBSCRIBE), channels
 * whose slot went to another master move there; a slot with no master keeps its channels where they are.
 */
export class RedisShardListener implements RedisListener {
  readonly publishCommand = 'SPUBLISH' as const;

  private readonly shards = new Map<string, Shard>();
  private readonly channels = new Map<string, Subscription>();
  /** The master (node key `host:port`) of each slot, '' when none; as of the last rebuild. */
  private owners: string[] = [];
  private readonly messageCallbacks: ((channel: string, payload: Buffer) => void)[] = [];
  private readonly readyCallbacks: (() => void)[] = [];
  private readonly errorCallbacks: ((error: Error) => void)[] = [];
  private readonly waiters = new Set<{ resolve: () => void; reject: (error: Error) => void; timer: NodeJS.Timeout }>();
  private started = false;
  private closed = false;
  /** Whether every connection has been ready at once, and whether one was lost since. */
  private everReady = false;
  private lost = false;
  private readonly onRefresh = () => this.rebuild();

  /**
   * @param cmd the engine's command `Cluster`, used only for its slot map (never closed here).
   * @param options how to open the subscriber connections.
   */
  constructor(
    private readonly cmd: Cluster,
    private readonly options: RedisShardListenerOptions = {},
  ) {}

  /** Every connection is ready (there is at least one). */
  get ready(): boolean {
    if (this.shards.size === 0) return false;
    for (const shard of this.shards.values()) if (shard.redis.status !== 'ready') return false;
    return true;
  }

  /** The subscriber connection of each master, by node key (`host:port`): for diagnostics and tests only. */
  get connections(): ReadonlyMap<string, Redis> {
    return new Map([...this.shards].map(([key, shard]) => [key, shard.redis]));
  }

  async connect(): Promise<void> {
    if (this.closed) throw new Error('the shard listener is closed');
    if (this.cmd.status === 'wait') await this.cmd.connect();
    else if (this.cmd.status !== 'ready') await clusterReady(this.cmd);
    if (!this.started) {
      this.started = true;
      this.cmd.on('refresh', this.onRefresh);
      // A command Cluster that was down may come back with a new map.
      this.cmd.on('ready', this.onRefresh);
    }
    this.rebuild();
    await Promise.all([...this.shards.values()].map((shard) => (shard.redis.status === 'wait' ? shard.redis.connect() : undefined)));
  }

  subscribe(channels: string[]): Promise<unknown> {
    const waiting: string[] = [];
    for (const channel of channels) {
      let subscription = this.channels.get(channel);
      if (!subscription) {
        subscription = { slot: redisKeySlot(channel), shard: undefined };
        this.channels.set(channel, subscription);
      }
      if (!subscription.shard) subscription.shard = this.shardOf(subscription.slot);
      if (subscription.shard) subscription.shard.channels.add(channel);
      else waiting.push(channel);
    }
    const sent = this.ssubscribe(channels.filter((channel) => this.channels.get(channel)?.shard));
    if (waiting.length) {
      // Kept: they are subscribed as soon as a refreshed slot map names their master.
      return Promise.reject(new Error(`no master known for the slot of ${waiting.length} channel(s), e.g. ${waiting[0]}`));
    }
    return sent;
  }

  unsubscribe(channels: string[]): Promise<unknown> {
    const bySlot = new Map<string, { shard: Shard; channels: string[] }>();
    for (const channel of channels) {
      const subscription = this.channels.get(channel);
      if (!subscription) continue;
      this.channels.delete(channel);
      const shard = subscription.shard;
      if (!shard) continue;
      shard.channels.delete(channel);
      const group = `${shard.key}/${subscription.slot}`;
      const entry = bySlot.get(group) ?? bySlot.set(group, { shard, channels: [] }).get(group)!;
      entry.channels.push(channel);
    }
    const ready = [...bySlot.values()].filter(({ shard }) => shard.redis.status === 'ready');
    return Promise.all(ready.map(({ shard, channels: list }) => shard.redis.sunsubscribe(...list)));
  }

  onMessage(callback: (channel: string, payload: Buffer) => void): void {
    this.messageCallbacks.push(callback);
  }

  onReady(callback: () => void): void {
    this.readyCallbacks.push(callback);
  }

  onError(callback: (error: Error) => void): void {
    this.errorCallbacks.push(callback);
  }

  whenReady(timeoutMs: number): Promise<void> {
    if (this.ready) return Promise.resolve();
    if (this.closed) return Promise.reject(new Error('the shard listener is closed'));
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          reject(new Error('the sharded subscriber connections are not ready'));
        }, timeoutMs),
      };
      this.waiters.add(waiter);
    });
  }

  reconnect(): void {
    for (const shard of this.shards.values()) shard.redis.disconnect(true);
    this.cmd.refreshSlotsCache();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.cmd.off('refresh', this.onRefresh);
    this.cmd.off('ready', this.onRefresh);
    for (const shard of this.shards.values()) shard.redis.disconnect();
    this.shards.clear();
    for (const waiter of this.waiters) {
      clearTimeout(waiter.timer);
      waiter.reject(new Error('the shard listener is closed'));
    }
    this.waiters.clear();
  }

  /** The shard of the master that owns `slot` (opened on first use), or undefined if none is known. */
  private shardOf(slot: number): Shard | undefined {
    const key = this.owners[slot];
    if (!key) return undefined;
    return this.shards.get(key) ?? this.open(key);
  }

  private open(key: string): Shard {
    const at = key.lastIndexOf(':');
    const redis = new Redis({
      ...this.options.redisOptions,
      host: key.slice(0, at),
      port: Number(key.slice(at + 1)),
      lazyConnect: true,
      retryStrategy: this.options.retryStrategy ?? defaultRetry,
      // We subscribe again ourselves on 'ready', from our own set: it also holds channels whose SSUBSCRIBE never got
      // an answer, which ioredis's own resubscription forgets.
      autoResubscribe: false,
      // A SSUBSCRIBE in flight when its master dies is not failed after N attempts: the engine bounds its own wait.
      maxRetriesPerRequest: null,
      // Nothing waits in a queue while a master is away (see ssubscribe): its channels are subscribed on 'ready'.
      enableOfflineQueue: false,
      // Its ready check (an INFO) can race a queued SSUBSCRIBE on a fresh connection and be refused in subscriber
      // mode, failing the start; a subscriber needs no check (a master that is loading still accepts SSUBSCRIBE).
      enableReadyCheck: false,
    });
    const shard: Shard = { key, redis, channels: new Set() };
    this.shards.set(key, shard);
    redis.on('smessageBuffer', (channel: Buffer, payload: Buffer) => {
      const name = channel.toString();
      for (const callback of this.messageCallbacks) callback(name, payload);
    });
    redis.on('error', (error: Error) => {
      for (const callback of this.errorCallbacks) callback(error);
    });
    redis.on('close', () => {
      if (this.everReady) this.lost = true;
    });
    redis.on('ready', () => {
      if (this.shards.get(key) !== shard) return;
      this.ssubscribe([...shard.channels]).catch(() => undefined); // errors reach onError through the connection
      this.checkReady();
    });
    // ioredis emits 'moved' (and leaves the command unanswered) when a SSUBSCRIBE gets -MOVED: the map is stale.
    redis.on('moved', () => this.cmd.refreshSlotsCache());
    if (this.started) redis.connect().catch(() => undefined); // failures reach onError; it retries by itself
    return shard;
  }

  /** SSUBSCRIBEs `channels` on the shard each one is placed on, one command per slot (and at most BATCH channels). */
  private ssubscribe(channels: string[]): Promise<unknown> {
    const groups = new Map<string, { shard: Shard; channels: string[] }>();
    for (const channel of channels) {
      const subscription = this.channels.get(channel);
      const shard = subscription?.shard;
      if (!shard) continue;
      const group = `${shard.key}/${subscription.slot}`;
      const entry = groups.get(group) ?? groups.set(group, { shard, channels: [] }).get(group)!;
      entry.channels.push(channel);
    }
    const sent: Promise<unknown>[] = [];
    for (const { shard, channels: list } of groups.values()) {
      // A master that is away gets nothing queued (which would grow for as long as it is away): its channels are
      // in its set, and its connection subscribes them all when it is ready again.
      if (shard.redis.status !== 'ready') continue;
      for (let i = 0; i < list.length; i += BATCH) sent.push(shard.redis.ssubscribe(...list.slice(i, i + BATCH)));
    }
    return Promise.all(sent);
  }

  /** Reads the command Cluster's slot map and moves the channels whose slot changed master. */
  private rebuild(): void {
    if (this.closed) return;
    const slots = this.cmd.slots;
    const owners: string[] = new Array<string>(REDIS_CLUSTER_SLOTS);
    let changed = this.owners.length !== REDIS_CLUSTER_SLOTS;
    for (let slot = 0; slot < REDIS_CLUSTER_SLOTS; slot++) {
      owners[slot] = slots[slot]?.[0] ?? '';
      if (owners[slot] !== this.owners[slot]) changed = true;
    }
    const unplaced = [...this.channels.values()].some((subscription) => !subscription.shard);
    if (!changed && !unplaced && this.shards.size > 0) return;
    this.owners = owners;
    for (const key of new Set(owners)) if (key && !this.shards.has(key)) this.open(key);
    const moved: string[] = [];
    const left = new Map<string, { shard: Shard; channels: string[] }>();
    for (const [channel, subscription] of this.channels) {
      const target = this.shardOf(subscription.slot);
      if (!target || target === subscription.shard) continue;
      const old = subscription.shard;
      if (old) {
        old.channels.delete(channel);
        const group = `${old.key}/${subscription.slot}`;
        const entry = left.get(group) ?? left.set(group, { shard: old, channels: [] }).get(group)!;
        entry.channels.push(channel);
      }
      subscription.shard = target;
      target.channels.add(channel);
      moved.push(channel);
    }
    for (const { shard, channels } of left.values()) shard.redis.sunsubscribe(...channels).catch(() => undefined);
    this.ssubscribe(moved).catch(() => undefined); // errors reach onError through the connection
    // A master that left the map and holds nothing is closed; one that holds channels is kept (it may come back).
    const current = new Set(owners);
    for (const [key, shard] of this.shards) {
      if (!current.has(key) && shard.channels.size === 0) {
        this.shards.delete(key);
        shard.redis.disconnect();
      }
    }
    this.checkReady();
  }

  /** Settles the waiters once every connection is ready, and tells onReady when that follows a loss. */
  private checkReady(): void {
    if (this.closed || !this.ready) return;
    for (const waiter of this.waiters) {
      clearTimeout(waiter.timer);
      waiter.resolve();
    }
    this.waiters.clear();
    if (!this.everReady) this.everReady = true;
    else if (this.lost) {
      this.lost = false;
      for (const callback of this.readyCallbacks) callback();
    }
  }
}

/** Resolves on the command Cluster's next 'ready', rejects if it closes first. */
function clusterReady(cluster: Cluster): Promise<void> {
  return new Promise((resolve, reject) => {
    const onReady = () => {
      cluster.off('close', onClose);
      resolve();
    };
    const onClose = () => {
      cluster.off('ready', onReady);
      reject(new Error('the Redis Cluster connection closed before it was ready'));
    };
    cluster.once('ready', onReady);
    cluster.once('close', onClose);
  });
}

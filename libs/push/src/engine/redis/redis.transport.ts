import { Logger } from '@nestjs/common';
import type { Cluster, Redis } from 'ioredis';
import type { PushMetrics } from '../../push-metrics.service';
import type { ClusterRoute, ClusterTransport } from '../cluster/cluster-transport';
import type { RedisCommands } from './redis.directory';
import type { RedisKeys } from './redis-keys';

/** Channels per SUBSCRIBE when a node listens again on everything. */
const BATCH = 500;

/**
 * How a Redis transport listens: plain pub/sub on one Redis (SUBSCRIBE, PUBLISH), or sharded pub/sub on a Redis
 * Cluster (SSUBSCRIBE, SPUBLISH: each channel lives on the shard of its slot, so traffic spreads over the shards
 * instead of being copied to every one of them). It owns its connection(s), never used for commands.
 */
export interface RedisListener {
  /** `PUBLISH` or `SPUBLISH`, as the scripts call it. */
  readonly publishCommand: 'PUBLISH' | 'SPUBLISH';
  /** Whether it can subscribe and hear now. */
  readonly ready: boolean;
  /** Connects; rejects when the server cannot be reached. */
  connect(): Promise<void>;
  /** Subscribes; resolves once confirmed (a request made while reconnecting waits in its queue). */
  subscribe(channels: string[]): Promise<unknown>;
  /** Unsubscribes; never needed for correctness (a node ignores what it no longer hosts). */
  unsubscribe(channels: string[]): Promise<unknown>;
  /** Receives every message: its channel and payload. */
  onMessage(callback: (channel: string, payload: Buffer) => void): void;
  /** Called each time it is ready again after a loss (not on the first connect). */
  onReady(callback: () => void): void;
  /** Called with each connection error (counted by the engine). */
  onError(callback: (error: Error) => void): void;
  /** Resolves once ready; rejects after `timeoutMs`. */
  whenReady(timeoutMs: number): Promise<void>;
  /** Drops and reconnects (it was found deaf). */
  reconnect(): void;
  /** Disconnects for good. */
  close(): void;
}

/** Waits for `emitter`'s next 'ready', at most `timeoutMs`. */
function nextReady(emitter: Redis | Cluster, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off('ready', onReady);
      reject(new Error('the subscriber connection is not ready'));
    }, timeoutMs);
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    emitter.once('ready', onReady);
  });
}

/** Calls `callback` on every 'ready' after the first one. */
function afterFirstReady(emitter: Redis | Cluster, callback: () => void): void {
  let first = emitter.status !== 'ready';
  emitter.on('ready', () => {
    if (first) first = false;
    else callback();
  });
}

/** Plain pub/sub on one Redis, over one dedicated connection. */
export function plainListener(sub: Redis, owned: boolean): RedisListener {
  return {
    publishCommand: 'PUBLISH',
    get ready() {
      return sub.status === 'ready';
    },
    connect: async () => {
      if (sub.status === 'wait') await sub.connect();
    },
    subscribe: (channels) => sub.subscribe(...channels),
    unsubscribe: (channels) => sub.unsubscribe(...channels),
    onMessage: (callback) => sub.on('messageBuffer', (channel: Buffer, payload: Buffer) => callback(channel.toString(), payload)),
    onReady: (callback) => afterFirstReady(sub, callback),
    onError: (callback) => sub.on('error', callback),
    whenReady: (timeoutMs) => (sub.status === 'ready' ? Promise.resolve() : nextReady(sub, timeoutMs)),
    reconnect: () => sub.disconnect(true),
    close: () => {
      if (owned) sub.disconnect();
    },
  };
}

/**
 * Sharded pub/sub on a Redis Cluster through ioredis's own `shardedSubscribers` (one subscriber connection per
 * master; it subscribes again by itself when a master comes back).
 */
export function shardedListener(sub: Cluster, owned: boolean): RedisListener {
  return {
    publishCommand: 'SPUBLISH',
    get ready() {
      return sub.status === 'ready';
    },
    connect: async () => {
      if (sub.status === 'wait') await sub.connect();
    },
    // One call per channel: ioredis refuses one SSUBSCRIBE whose channels hash to different slots.
    subscribe: (channels) => Promise.all(channels.map((channel) => sub.ssubscribe(channel))),
    unsubscribe: (channels) => Promise.all(channels.map((channel) => sub.sunsubscribe(channel))),
    onMessage: (callback) => sub.on('smessageBuffer', (channel: Buffer, payload: Buffer) => callback(channel.toString(), payload)),
    onReady: (callback) => afterFirstReady(sub, callback),
    onError: (callback) => sub.on('error', callback),
    whenReady: (timeoutMs) => (sub.status === 'ready' ? Promise.resolve() : nextReady(sub, timeoutMs)),
    reconnect: () => sub.disconnect(true),
    close: () => {
      if (owned) sub.disconnect();
    },
  };
}

/**
 * The node-to-node transport on Redis pub/sub. Pushes to a uid, a group or everyone are one script each that
 * counts the members and publishes in the same step, on the slot that holds both.
 */
export class RedisTransport implements ClusterTransport {
  private readonly logger = new Logger('PushCluster');
  private closing = false;
  private readonly reconnected: (() => void)[] = [];

  constructor(
    private readonly cmd: RedisCommands,
    private readonly listener: RedisListener,
    private readonly keys: RedisKeys,
    private readonly metrics: PushMetrics,
  ) {}

  get listening(): boolean {
    return this.listener.ready;
  }

  async start(node: string, onMessage: (route: ClusterRoute, payload: Buffer) => void): Promise<void> {
    this.listener.onMessage((channel, payload) => {
      const route = this.keys.route(channel);
      if (route) onMessage(route, payload);
      else {
        this.metrics.badClusterMessages++;
        this.logger.error(`dropped a message on a channel this node does not use: ${channel}`);
      }
    });
    await this.listener.subscribe([this.keys.nodeChannel(node)]);
    await this.listener.subscribe([this.keys.allChannel]);
    // Either side coming back may mean a Redis that lost its data or subscriptions that lapsed.
    const reconnected = () => {
      if (!this.closing) for (const callback of this.reconnected) callback();
    };
    this.listener.onReady(reconnected);
    let first = this.cmd.status !== 'ready';
    this.cmd.on('ready', () => {
      if (first) first = false;
      else reconnected();
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    this.listener.close();
  }

  whenListening(timeoutMs: number): Promise<void> {
    return this.listener.whenReady(timeoutMs);
  }

  onReconnect(callback: () => void): void {
    this.reconnected.push(callback);
  }

  reconnectListener(): void {
    this.listener.reconnect();
  }

  subscribe(route: ClusterRoute): Promise<void> {
    const done = this.listener.subscribe([this.keys.channel(route)]).then(
      () => undefined,
      (error: Error) => {
        // The subscriber replays its subscriptions after a reconnect; the resync re-checks the rest.
        this.logger.debug?.(`subscribe ${this.keys.channel(route)}: ${error.message}`);
      },
    );
    // While the subscriber is reconnecting the request waits in its queue: do not hold the caller for it.
    return this.listener.ready ? done : Promise.resolve();
  }

  unsubscribe(route: ClusterRoute): Promise<void> {
    return this.listener.unsubscribe([this.keys.channel(route)]).then(
      () => undefined,
      () => undefined,
    );
  }

  async resubscribe(routes: ClusterRoute[]): Promise<void> {
    const channels = routes.map((route) => this.keys.channel(route));
    for (let i = 0; i < channels.length; i += BATCH) await this.listener.subscribe(channels.slice(i, i + BATCH));
  }

  async publishToUid(uid: string, payload: Buffer): Promise<number> {
    return this.counted(this.keys.uidMembers(uid), this.keys.uidChannel(uid), payload, []);
  }

  async publishToGroup(group: string, payload: Buffer, excluded: readonly string[]): Promise<number> {
    return this.counted(this.keys.groupMembers(group), this.keys.groupChannel(group), payload, excluded);
  }

  async publishToAll(payload: Buffer, excluded: readonly string[]): Promise<number> {
    return this.counted(this.keys.clients, this.keys.allChannel, payload, excluded);
  }

  async publishToNode(node: string, payload: Buffer, clientIds?: readonly string[]): Promise<number> {
    const channel = this.keys.nodeChannel(node);
    if (clientIds) {
      const held = this.keys.nodeClients(node);
      return (await this.cmd.pushPublishToHeld(held, channel, this.listener.publishCommand, payload, ...clientIds)) as number;
    }
    const receivers = this.listener.publishCommand === 'SPUBLISH' ? this.cmd.spublish(channel, payload) : this.cmd.publish(channel, payload);
    return (await receivers) as number;
  }

  async dissolveGroup(group: string, payload: Buffer): Promise<number> {
    const keys = [this.keys.groupMembers(group), this.keys.groupChannel(group)];
    return (await this.cmd.pushDissolve(...keys, this.listener.publishCommand, payload)) as number;
  }

  private async counted(members: string, channel: string, payload: Buffer, excluded: readonly string[]): Promise<number> {
    return (await this.cmd.pushPublishCounted(members, channel, this.listener.publishCommand, payload, ...excluded)) as number;
  }
}

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
  /**
   * Disconnects for good; on a caller's own connection (not owned), takes back instead what it attached: its
   * subscriptions and its event handlers, so the connection is left as the caller gave it. Never rejects.
   */
  close(): void | Promise<void>;
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
function afterFirstReady(emitter: Redis | Cluster, attached: Attachments, callback: () => void): void {
  let first = emitter.status !== 'ready';
  attached.on('ready', () => {
    if (first) first = false;
    else callback();
  });
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- ioredis types its handlers so
type Handler = (...args: any[]) => void;

/**
 * What a listener attached to its connection (handlers, subscribed channels), so that closing a caller's own
 * connection, which the engine must not disconnect, leaves it hearing nothing of the engine's any more.
 */
class Attachments {
  private readonly handlers: [string, Handler][] = [];
  /** Bounded by the routes the node listens on (its own, `all`, and the uids and groups it hosts). */
  private readonly channels = new Set<string>();

  constructor(private readonly emitter: Redis | Cluster) {}

  on(event: string, handler: Handler): void {
    this.emitter.on(event, handler);
    this.handlers.push([event, handler]);
  }

  subscribed(channels: string[], subscribed: boolean): void {
    for (const channel of channels) {
      if (subscribed) this.channels.add(channel);
      else this.channels.delete(channel);
    }
  }

  /** Removes the handlers and unsubscribes what is still subscribed. */
  async release(unsubscribe: (channels: string[]) => Promise<unknown>): Promise<void> {
    for (const [event, handler] of this.handlers.splice(0)) this.emitter.off(event, handler);
    const channels = [...this.channels];
    this.channels.clear();
    if (channels.length > 0) await unsubscribe(channels).catch(() => undefined);
  }
}

/** What differs between plain and sharded pub/sub over one ioredis client. */
interface PubSubCommands {
  publishCommand: 'PUBLISH' | 'SPUBLISH';
  /** The event that carries `(channel: Buffer, payload: Buffer)`. */
  messageEvent: 'messageBuffer' | 'smessageBuffer';
  subscribe(channels: string[]): Promise<unknown>;
  unsubscribe(channels: string[]): Promise<unknown>;
}

/** A listener on one ioredis client (a `Redis`, or a `Cluster` with `shardedSubscribers`). */
function clientListener(sub: Redis | Cluster, owned: boolean, commands: PubSubCommands): RedisListener {
  const attached = new Attachments(sub);
  return {
    publishCommand: commands.publishCommand,
    get ready() {
      return sub.status === 'ready';
    },
    connect: async () => {
      if (sub.status === 'wait') await sub.connect();
    },
    subscribe: (channels) => {
      attached.subscribed(channels, true);
      return commands.subscribe(channels);
    },
    unsubscribe: (channels) => {
      attached.subscribed(channels, false);
      return commands.unsubscribe(channels);
    },
    onMessage: (callback) =>
      attached.on(commands.messageEvent, (channel: Buffer, payload: Buffer) => callback(channel.toString(), payload)),
    onReady: (callback) => afterFirstReady(sub, attached, callback),
    onError: (callback) => attached.on('error', callback),
    whenReady: (timeoutMs) => (sub.status === 'ready' ? Promise.resolve() : nextReady(sub, timeoutMs)),
    reconnect: () => sub.disconnect(true),
    close: async () => {
      if (owned) sub.disconnect();
      else await attached.release((channels) => commands.unsubscribe(channels));
    },
  };
}

/** Plain pub/sub on one Redis, over one dedicated connection. */
export function plainListener(sub: Redis, owned: boolean): RedisListener {
  return clientListener(sub, owned, {
    publishCommand: 'PUBLISH',
    messageEvent: 'messageBuffer',
    subscribe: (channels) => sub.subscribe(...channels),
    unsubscribe: (channels) => sub.unsubscribe(...channels),
  });
}

/**
 * Sharded pub/sub on a Redis Cluster through ioredis's own `shardedSubscribers` (one subscriber connection per
 * master; it subscribes again by itself when a master comes back). Used only for a `subscriber` Cluster the caller
 * gives; the engine's own connections use `RedisShardListener`.
 */
export function shardedListener(sub: Cluster, owned: boolean): RedisListener {
  // One call per channel: ioredis refuses one SSUBSCRIBE whose channels hash to different slots.
  return clientListener(sub, owned, {
    publishCommand: 'SPUBLISH',
    messageEvent: 'smessageBuffer',
    subscribe: (channels) => Promise.all(channels.map((channel) => sub.ssubscribe(channel))),
    unsubscribe: (channels) => Promise.all(channels.map((channel) => sub.sunsubscribe(channel))),
  });
}

/**
 * The node-to-node transport on Redis pub/sub. Pushes to a uid, a group or everyone are one script each that
 * counts the members and publishes in the same step, on the slot that holds both.
 */
export class RedisTransport implements ClusterTransport {
  private readonly logger = new Logger('PushCluster');
  private closing = false;
  private readonly reconnected: (() => void)[] = [];
  /** Its handler of the command connection's 'ready' (removed on close). */
  private commandReady: (() => void) | null = null;

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
    this.commandReady = () => {
      if (first) first = false;
      else reconnected();
    };
    this.cmd.on('ready', this.commandReady);
  }

  async close(): Promise<void> {
    this.closing = true;
    // The command connection may be the caller's own, which outlives the engine.
    if (this.commandReady) this.cmd.off('ready', this.commandReady);
    this.commandReady = null;
    await this.listener.close();
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
    return this.listener.subscribe([this.keys.channel(route)]).then(() => undefined);
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

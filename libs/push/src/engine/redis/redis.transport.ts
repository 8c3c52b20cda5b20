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
 * instead of being copied to every one of them).
 */
export interface RedisListener {
  /** The connection that subscribes (never used for commands). */
  readonly connection: Redis | Cluster;
  /** `PUBLISH` or `SPUBLISH`, as scripts call it. */
  readonly publishCommand: 'PUBLISH' | 'SPUBLISH';
  subscribe(channels: string[]): Promise<unknown>;
  unsubscribe(channels: string[]): Promise<unknown>;
  /** The event that carries `(channel: Buffer, message: Buffer)`. */
  readonly messageEvent: 'messageBuffer' | 'smessageBuffer';
  /** Whether it can subscribe and hear now. */
  readonly ready: boolean;
}

/** Plain pub/sub on one Redis. */
export function plainListener(sub: Redis): RedisListener {
  return {
    connection: sub,
    publishCommand: 'PUBLISH',
    subscribe: (channels) => sub.subscribe(...channels),
    unsubscribe: (channels) => sub.unsubscribe(...channels),
    messageEvent: 'messageBuffer',
    get ready() {
      return sub.status === 'ready';
    },
  };
}

/**
 * The node-to-node transport on Redis pub/sub. Pushes to a uid, a group or everyone are one script each that
 * counts the members and publishes in the same step, on the slot that holds both.
 */
export class RedisTransport implements ClusterTransport {
  private readonly logger = new Logger('PushCluster');
  private started = false;
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
    this.listener.connection.on(this.listener.messageEvent, (channel: Buffer, payload: Buffer) => {
      const route = this.keys.route(channel.toString());
      if (route) onMessage(route, payload);
      else {
        this.metrics.badClusterMessages++;
        this.logger.error(`dropped a message on a channel this node does not use: ${channel.toString()}`);
      }
    });
    await this.listener.subscribe([this.keys.nodeChannel(node), this.keys.allChannel]);
    // Either connection coming back may mean a Redis that lost its data or subscriptions that lapsed.
    for (const connection of new Set<Redis | Cluster>([this.cmd, this.listener.connection])) {
      connection.on('ready', () => {
        if (this.started && !this.closing) for (const callback of this.reconnected) callback();
      });
    }
    this.started = true;
  }

  async close(): Promise<void> {
    this.closing = true;
  }

  whenListening(timeoutMs: number): Promise<void> {
    if (this.listener.ready) return Promise.resolve();
    const connection = this.listener.connection;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        connection.off('ready', onReady);
        reject(new Error('the subscriber connection is not ready'));
      }, timeoutMs);
      const onReady = () => {
        clearTimeout(timer);
        resolve();
      };
      connection.once('ready', onReady);
    });
  }

  onReconnect(callback: () => void): void {
    this.reconnected.push(callback);
  }

  reconnectListener(): void {
    this.listener.connection.disconnect(true);
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

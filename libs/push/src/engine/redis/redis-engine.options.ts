import type { ConnectionOptions } from 'node:tls';

/**
 * Options handed to ioredis's constructor as they are (its `RedisOptions`). Declared here without ioredis's own
 * types because ioredis is an optional peer: the package's type declarations must compile in an app that does not
 * install it. To have them checked against ioredis's, write `redis: { … } satisfies RedisOptions`.
 */
export interface RedisConnectionOptions {
  /** ACL user (Redis 6+). */
  username?: string;
  /** Password (`AUTH`); the URL's password works too. */
  password?: string;
  /** Database number; overrides the URL's `/db`. */
  db?: number;
  /** TLS options; `{}` for TLS with Node's defaults (or use a `rediss://` URL). */
  tls?: ConnectionOptions;
  /** Connection name shown by `CLIENT LIST`. */
  connectionName?: string;
  /** ms to wait for the connection to open. */
  connectTimeout?: number;
  /** Any other ioredis option. */
  [option: string]: unknown;
}

/** A Redis Cluster node to start from: `host:port`, or `{ host, port }`. */
export type RedisClusterNode = string | { host: string; port: number };

/**
 * An ioredis client the caller made (a `Redis`, or a `Cluster` with `cluster`). Typed loosely here because ioredis is
 * an optional peer; the engine checks at start that it is one.
 */
export type RedisClientLike = object;

/** Which connection the engine asks a `createClient` factory for. */
export type RedisClientRole = 'command' | 'subscriber';

/**
 * The Redis engine: many processes and machines share one Redis (or one Redis Cluster) for the index and for
 * routing. Connections come from, in this order of precedence: `createClient`, `client` (+ `subscriber`),
 * `cluster`, `url`.
 */
export interface RedisEngineOptions {
  type: 'redis';
  /** Connection URL (`redis://[:password@]host:port[/db]`). Default `redis://127.0.0.1:6379`. */
  url?: string;
  /**
   * Redis Cluster: the nodes to start from (any masters; ioredis discovers the rest). The engine then uses sharded
   * pub/sub (SSUBSCRIBE / SPUBLISH, Redis 7 or later). See the README's "Redis Cluster".
   */
  cluster?: RedisClusterNode[];
  /** Extra ioredis options (TLS, password, …); on a cluster, the options of each node's connection. */
  redis?: RedisConnectionOptions;
  /**
   * Builds the engine's two connections itself (for example from an app's own Redis module): called once with
   * `command` and once with `subscriber`; each call must return a NEW, unconnected-or-connected ioredis `Redis` (or
   * `Cluster` when `cluster` is set too). The engine owns and closes what it returns. For fail-fast calls, give the
   * command connection `enableOfflineQueue: false`, `maxRetriesPerRequest: 0` and a `commandTimeout`. When the
   * command connection is a `Cluster`, `subscriber` is never asked for: the engine opens one subscriber connection
   * per master itself (with the cluster's `redisOptions`).
   */
  createClient?: (role: RedisClientRole) => RedisClientLike;
  /**
   * An ioredis client of the caller's for commands. The engine uses it as it is and never closes it; its subscriber
   * is `subscriber`, or else a `duplicate()` of it (which the engine closes). For a `Cluster` without `subscriber`,
   * the engine opens one subscriber connection per master itself (`RedisShardListener`, with the cluster's
   * `redisOptions`), rather than ioredis's `shardedSubscribers`, which retries a dead master in a tight loop.
   */
  client?: RedisClientLike;
  /** A dedicated ioredis connection of the caller's for subscribing (only with `client`); never closed by the engine. */
  subscriber?: RedisClientLike;
  /** Prefix of every key and channel, so several apps can share a Redis. Default `push:`. */
  prefix?: string;
  /**
   * How long a node stays alive in the index without renewing, in ms. A node killed without a goodbye has its
   * connections removed from every query within `nodeTtl + reapInterval`. Default 10 000.
   */
  nodeTtl?: number;
  /** How often each node renews itself and looks for dead nodes to clean up, in ms. Default nodeTtl / 4. */
  reapInterval?: number;
  /** How long a call addressed to another node's client waits for that node to answer, in ms. Default 3 000. */
  requestTimeout?: number;
}

/** The options with defaults filled in. */
export type ResolvedRedisEngineOptions = Required<
  Omit<RedisEngineOptions, 'redis' | 'cluster' | 'createClient' | 'client' | 'subscriber'>
> &
  Pick<RedisEngineOptions, 'cluster' | 'createClient' | 'client' | 'subscriber'> & { redis: RedisConnectionOptions };

/** Fills in defaults and checks values. */
export function resolveRedisEngineOptions(options: RedisEngineOptions): ResolvedRedisEngineOptions {
  const nodeTtl = options.nodeTtl ?? 10_000;
  const resolved: ResolvedRedisEngineOptions = {
    type: 'redis',
    url: options.url ?? 'redis://127.0.0.1:6379',
    redis: options.redis ?? {},
    prefix: options.prefix ?? 'push:',
    nodeTtl,
    reapInterval: options.reapInterval ?? Math.max(50, Math.floor(nodeTtl / 4)),
    requestTimeout: options.requestTimeout ?? 3_000,
    cluster: options.cluster,
    createClient: options.createClient,
    client: options.client,
    subscriber: options.subscriber,
  };
  if (resolved.cluster !== undefined && (!Array.isArray(resolved.cluster) || resolved.cluster.length === 0)) {
    throw new Error('PushModule: engine.cluster must list at least one node (host:port)');
  }
  if (resolved.subscriber !== undefined && resolved.client === undefined) {
    throw new Error('PushModule: engine.subscriber needs engine.client');
  }
  if (resolved.cluster && /[{}]/.test(resolved.prefix)) {
    // The hash tag would come from the prefix: every key in one slot, every channel on one shard.
    throw new Error('PushModule: engine.prefix must not contain { or } on Redis Cluster');
  }
  for (const key of ['nodeTtl', 'reapInterval', 'requestTimeout'] as const) {
    if (!Number.isFinite(resolved[key]) || resolved[key] <= 0) {
      throw new Error(`PushModule: engine.${key} must be a positive number`);
    }
  }
  if (resolved.reapInterval >= resolved.nodeTtl) {
    throw new Error('PushModule: engine.reapInterval must be shorter than engine.nodeTtl');
  }
  return resolved;
}

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

/** The Redis engine: many processes and machines share one Redis for the index and for routing. */
export interface RedisEngineOptions {
  type: 'redis';
  /** Connection URL (`redis://[:password@]host:port[/db]`). Default `redis://127.0.0.1:6379`. */
  url?: string;
  /** Extra ioredis options (TLS, password, …). The engine sets its own retry and offline-queue behaviour. */
  redis?: RedisConnectionOptions;
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
export type ResolvedRedisEngineOptions = Required<Omit<RedisEngineOptions, 'redis'>> & { redis: RedisConnectionOptions };

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
  };
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

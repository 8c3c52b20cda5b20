import { randomUUID } from 'node:crypto';
import { PushMetrics } from '../push-metrics.service';
import { openRedisConnections, type RedisConnections } from '../engine/redis/redis-connections';
import { resolveRedisEngineOptions } from '../engine/redis/redis-engine.options';
import { RedisDirectory } from '../engine/redis/redis.directory';
import { RedisKeys } from '../engine/redis/redis-keys';
import { RedisTransport } from '../engine/redis/redis.transport';

/** The real Redis parts of one node, built the way `RedisEngine.connect()` builds them. */
export interface RedisParts {
  connections: RedisConnections;
  keys: RedisKeys;
  directory: RedisDirectory;
  transport: RedisTransport;
  metrics: PushMetrics;
  /** Closes the transport and the connections. */
  close(): Promise<void>;
}

/** A prefix no other test shares (pub/sub is server-wide). */
export function uniquePrefix(): string {
  return `t${randomUUID().slice(0, 8)}:`;
}

/**
 * Opens one node's connections to a real Redis (`url`) or Redis Cluster (`cluster`) under `prefix`, and builds its
 * RedisDirectory and RedisTransport on them. The transport is not started.
 */
export async function openRedisParts(target: { url?: string; cluster?: string[] }, prefix: string): Promise<RedisParts> {
  const options = resolveRedisEngineOptions({ type: 'redis', ...target, prefix, requestTimeout: 5_000 });
  const connections = openRedisConnections(options);
  await connections.connect();
  const keys = new RedisKeys(prefix);
  const metrics = new PushMetrics();
  const transport = new RedisTransport(connections.cmd, connections.listener, keys, metrics);
  return {
    connections,
    keys,
    directory: new RedisDirectory(connections.cmd, keys),
    transport,
    metrics,
    close: async () => {
      await transport.close();
      connections.close();
    },
  };
}

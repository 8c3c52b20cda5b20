import { RedisCluster } from './redis-cluster';
import { RedisServer } from './redis-server';

/** Where the example app's node processes keep their index: one redis-server, or a Redis Cluster, of the test's own. */
export interface ClusterBackend {
  name: string;
  start(): Promise<void>;
  /** The environment that points a node at it. */
  env(): Record<string, string>;
  close(): Promise<void>;
  /** Stops and restarts (empty) the whole backend, where a test plays a full outage (one Redis only). */
  outage?: { stop(): Promise<void>; restart(): Promise<void> };
}

/** One redis-server on a free port. */
export function singleRedis(): ClusterBackend {
  let redis: RedisServer | undefined;
  return {
    name: 'one Redis',
    start: async () => {
      redis = await RedisServer.start();
    },
    env: () => ({ REDIS_URL: redis!.url }),
    close: async () => redis?.close(),
    outage: { stop: () => redis!.stop(), restart: () => redis!.restart() },
  };
}

/** A Redis Cluster of three masters (sharded pub/sub). */
export function redisCluster(): ClusterBackend {
  let cluster: RedisCluster | undefined;
  return {
    name: 'a Redis Cluster (three masters, sharded pub/sub)',
    start: async () => {
      cluster = await RedisCluster.start({ masters: 3 });
    },
    env: () => ({ REDIS_CLUSTER_NODES: cluster!.startupNodes.join(',') }),
    close: async () => cluster?.close(),
  };
}

/**
 * Polls `check` every 50 ms until it returns something truthy, for state that has no event (the index as another
 * process sees it). Fails after `ms` with the last value seen.
 */
export async function eventuallyTruthy<T>(what: string, check: () => Promise<T>, ms = 10_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
      last = value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      const seen = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`${what}: not reached within ${ms} ms; last: ${seen}`);
    }
    await new Promise((done) => setTimeout(done, 50));
  }
}

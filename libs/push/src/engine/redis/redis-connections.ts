import { Logger } from '@nestjs/common';
import Redis, { Cluster } from 'ioredis';
import { redactUrl } from '../../util/redact-url';
import type { RedisClusterNode, ResolvedRedisEngineOptions } from './redis-engine.options';
import { defineRedisScripts, type RedisCommands } from './redis.directory';
import { RedisShardListener } from './redis-shard-listener';
import { plainListener, shardedListener, type RedisListener } from './redis.transport';

/** The two connections of a Redis engine, and which of them it must close. */
export interface RedisConnections {
  /** Commands and scripts. */
  cmd: RedisCommands;
  /** Subscriptions (never used for commands). */
  listener: RedisListener;
  /** The database the command connection uses (0 on a cluster). */
  db: number;
  /** Whether this is a Redis Cluster. */
  cluster: boolean;
  /** Where it points, with credentials masked (for logs and errors). */
  target: string;
  /** Connects whatever is not connected yet. */
  connect(): Promise<void>;
  /** Closes what the engine created (never a caller's own client): the listener and the command connection. */
  close(): void;
}

const logger = new Logger('RedisEngine');

/** Backoff between reconnect attempts: quick at first, at most a second. */
const retryStrategy = (times: number) => Math.min(50 * times, 1000);

/**
 * Opens (or adopts) the engine's connections. Commands fail at once while Redis is unreachable (no offline queue,
 * no retries): a cluster call must answer 503 now rather than hang, and a Redis that stops answering without
 * closing the connection (a partition) is bounded by `requestTimeout`. Calls issued in the same turn leave in one
 * write (auto-pipelining); Redis then publishes them together too, so a burst reaches each node in one read. The
 * subscriber keeps its queue, so (un)subscribes replay on reconnect.
 */
export function openRedisConnections(options: ResolvedRedisEngineOptions): RedisConnections {
  const owned: (Redis | Cluster)[] = [];
  let cmd: Redis | Cluster;
  /** The subscriber client, unless the listener opens its own connections (our cluster: one per master). */
  let sub: Redis | Cluster | undefined;
  let target: string;
  if (options.createClient) {
    cmd = adopt(options.createClient('command'), options, 'createClient("command")');
    owned.push(cmd);
    // For a Cluster the shard listener below opens its own connection per master: no subscriber is asked for.
    if (!(cmd instanceof Cluster)) owned.push((sub = adopt(options.createClient('subscriber'), options, 'createClient("subscriber")')));
    target = 'the connections of createClient';
  } else if (options.client) {
    cmd = adopt(options.client, options, 'client');
    if (options.subscriber) sub = adopt(options.subscriber, options, 'subscriber');
    else if (!(cmd instanceof Cluster)) owned.push((sub = cmd.duplicate()));
    // A Cluster without a subscriber of the caller's: the shard listener below opens one connection per master.
    target = "the caller's client";
    warnIfSlow(cmd);
  } else if (options.cluster) {
    const nodes = options.cluster.map(parseNode);
    const base = {
      redisOptions: { ...options.redis, commandTimeout: options.requestTimeout, maxRetriesPerRequest: 0 },
      lazyConnect: true,
      clusterRetryStrategy: retryStrategy,
    };
    cmd = new Cluster(nodes, { ...base, enableOfflineQueue: false, enableAutoPipelining: true });
    owned.push(cmd);
    target = `Redis Cluster ${nodes.map((n) => `${n.host}:${n.port}`).join(',')}`;
  } else {
    cmd = new Redis(options.url, {
      ...options.redis,
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: options.requestTimeout,
      enableAutoPipelining: true,
      retryStrategy,
    });
    sub = new Redis(options.url, { ...options.redis, lazyConnect: true, retryStrategy });
    owned.push(cmd, sub);
    target = `Redis at ${redactUrl(options.url)}`;
  }
  const isCluster = cmd instanceof Cluster;
  let listener: RedisListener;
  if (!sub) {
    // Not ioredis's `shardedSubscribers`: it retries a dead master with no backoff (a core per app node) and
    // re-SSUBSCRIBEs every channel each time. Ours keeps one backoff-retrying connection per master.
    const redisOptions = options.client || options.createClient ? { ...(cmd as Cluster).options.redisOptions } : { ...options.redis };
    listener = new RedisShardListener(cmd as Cluster, { redisOptions, retryStrategy });
  } else {
    if (isCluster !== sub instanceof Cluster) throw new Error('RedisEngine: the command and subscriber connections must both be Cluster or both Redis');
    const subOwned = owned.includes(sub);
    listener = isCluster ? shardedListener(sub as Cluster, subOwned) : plainListener(sub as Redis, subOwned);
  }
  const db = isCluster ? 0 : Number((cmd as Redis).options.db ?? 0);
  return {
    cmd: defineRedisScripts(cmd),
    listener,
    db,
    cluster: isCluster,
    target,
    connect: async () => {
      await Promise.all([whenConnected(cmd, options.requestTimeout), listener.connect()]);
    },
    close: () => {
      void listener.close();
      if (owned.includes(cmd)) cmd.disconnect();
    },
  };
}

/**
 * Connects `client`, or waits for it: a caller's client made without `lazyConnect` is still connecting when the engine
 * starts, and with the offline queue off (as advised) a command sent now would be refused. Bounded by `timeoutMs`
 * on top of the client's own connect timeout; rejects at once for a client that was closed.
 */
async function whenConnected(client: Redis | Cluster, timeoutMs: number): Promise<void> {
  if (client.status === 'wait') return void (await client.connect());
  if (client.status === 'ready') return;
  if (client.status === 'end' || client.status === 'close') throw new Error(`the connection is closed (${client.status})`);
  await new Promise<void>((resolve, reject) => {
    const done = (error?: Error) => {
      clearTimeout(timer);
      client.off('ready', onReady);
      client.off('end', onEnd);
      if (error) reject(error);
      else resolve();
    };
    const onReady = () => done();
    const onEnd = () => done(new Error('the connection was closed while connecting'));
    const timer = setTimeout(() => done(new Error(`not ready within ${timeoutMs} ms (status ${client.status})`)), timeoutMs);
    client.once('ready', onReady);
    client.once('end', onEnd);
  });
}

function adopt(client: unknown, options: ResolvedRedisEngineOptions, name: string): Redis | Cluster {
  if (!(client instanceof Redis) && !(client instanceof Cluster)) {
    throw new Error(`RedisEngine: engine.${name} must be an ioredis Redis or Cluster instance (from the same ioredis)`);
  }
  if (options.cluster && !(client instanceof Cluster)) {
    throw new Error(`RedisEngine: engine.${name} must be an ioredis Cluster when engine.cluster is set`);
  }
  return client;
}

/** A caller's command client that queues or retries commands makes cluster calls hang instead of failing fast. */
function warnIfSlow(client: Redis | Cluster): void {
  const options = (client as Redis).options as { enableOfflineQueue?: boolean; commandTimeout?: number } | undefined;
  if (options?.enableOfflineQueue !== false || !options.commandTimeout) {
    logger.warn(
      'engine.client queues commands while Redis is down, or has no commandTimeout: cluster calls may wait instead of ' +
        'failing at once with 503. Give it enableOfflineQueue: false, maxRetriesPerRequest: 0 and a commandTimeout.',
    );
  }
}

function parseNode(node: RedisClusterNode): { host: string; port: number } {
  if (typeof node !== 'string') return node;
  const at = node.lastIndexOf(':');
  const port = Number(node.slice(at + 1));
  if (at <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new Error(`PushModule: engine.cluster: ${JSON.stringify(node)} is not host:port`);
  }
  return { host: node.slice(0, at), port };
}

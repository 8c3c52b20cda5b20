import { ClusterEngine, type ClusterBackend } from '../cluster/cluster.engine';
import { RedisEngineOptions, ResolvedRedisEngineOptions, resolveRedisEngineOptions } from './redis-engine.options';
import { openRedisConnections, type RedisConnections } from './redis-connections';
import { RedisDirectory } from './redis.directory';
import { RedisHistory } from './redis.history';
import { RedisKeys } from './redis-keys';
import { RedisTransport } from './redis.transport';

/** What ioredis rejects a command with when `commandTimeout` (our `requestTimeout`) fires. */
const COMMAND_TIMED_OUT = 'Command timed out';

/**
 * Many processes and machines behind one Redis, or one Redis Cluster (`cluster`).
 *
 * - **Index** (`RedisDirectory`): every connection, uid and group lives in Redis (see `redis-keys.ts`), written
 *   only by the node that holds the connection, so every query is answered by Redis alone, never by asking the
 *   other nodes.
 * - **Routing** (`RedisTransport`): a node subscribes to a channel per uid and per group it currently hosts, plus
 *   its own node channel. A push to a uid or group is one script that counts its members and publishes, and only
 *   the nodes with members receive it; a call aimed at a client_id goes to the node named in the id. On Redis
 *   Cluster the channels are sharded (SSUBSCRIBE / SPUBLISH): each lives on the shard of its members' slot.
 * - **Failures**: see `ClusterEngine` (liveness, the deaf-subscriber probe, the resync).
 */
export class RedisEngine extends ClusterEngine {
  protected readonly engineName: string;
  protected readonly backendName: string;
  private readonly options: ResolvedRedisEngineOptions;
  private connections: RedisConnections | null = null;

  constructor(options: Omit<RedisEngineOptions, 'type'> & { type?: 'redis' } = {}) {
    const resolved = resolveRedisEngineOptions({ ...options, type: 'redis' });
    super(resolved);
    this.options = resolved;
    const cluster = resolved.cluster !== undefined;
    this.engineName = cluster ? 'redis-cluster' : 'redis';
    this.backendName = cluster ? 'Redis Cluster' : 'Redis';
  }

  /** The key and channel names this engine uses (set once it started: the prefix depends on the database). */
  keys!: RedisKeys;

  protected async connect(): Promise<ClusterBackend> {
    const connections = openRedisConnections(this.options);
    this.connections = connections;
    // Pub/sub is server-wide: on a database other than 0 the prefix carries it, or apps on two databases would
    // hear each other's pushes.
    this.keys = new RedisKeys(connections.db === 0 ? this.options.prefix : `${this.options.prefix}db${connections.db}:`);
    connections.cmd.on('error', this.counted);
    connections.listener.onError(this.counted);
    try {
      await connections.connect();
      await connections.cmd.ping();
    } catch (error) {
      this.disconnect();
      throw new Error(`RedisEngine: cannot reach ${connections.target}: ${(error as Error).message}`);
    }
    const limits = this.historyLimits;
    return {
      directory: new RedisDirectory(connections.cmd, this.keys),
      transport: new RedisTransport(connections.cmd, connections.listener, this.keys, this.metrics),
      history: limits && new RedisHistory(connections.cmd, this.keys, connections.listener.publishCommand, limits),
    };
  }

  /** Counts a connection error (a handler on the command connection, removed on close: it may be the caller's). */
  private readonly counted = (error: Error): void => {
    this.metrics.engineErrors++;
    this.logger.debug?.(`redis: ${error.message}`);
  };

  protected disconnect(): void {
    this.connections?.cmd.off('error', this.counted);
    this.connections?.close();
    this.connections = null;
  }

  protected override isTimeout(error: unknown): boolean {
    return (error as Error)?.message === COMMAND_TIMED_OUT;
  }
}

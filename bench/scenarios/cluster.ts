/**
 * Cluster burst: the burst scenario with the clients split over two gateway nodes (our bench server on the
 * Redis engine) and the sends issued from a third, push-only node (`gateway: false`). Each repeat runs two
 * sessions with the same clients and sends, one per backend:
 *   - `redis`: one redis-server (plain pub/sub), as before;
 *   - `redisCluster`: a Redis Cluster of `clusterMasters` masters, no replicas (sharded pub/sub).
 * and in each session two measurements on the same connected clients:
 *   - `all`: `sends` group sends to `all` (every client). A group's channel lives in the slot of `{g:all}`, so on
 *     the cluster the whole burst goes through ONE shard;
 *   - `spread`: the clients are split over G groups (`spread-0`…, by uid number mod G) and each of the `sends`
 *     rounds sends one message to each group (G × sends group sends, each to N/G clients): the same N × sends
 *     deliveries, over G channels that hash to different slots, so the shards share the traffic.
 * Figures: deliveries/s until the last arrived, CPU µs per delivery summed over the three node processes, and the
 * Redis CPU per delivery, per master for the cluster (INFO cpu of each redis-server).
 */
import { spreadGroupOf } from '../lib/common';
import { connectClients, loadgensFor, measureDelivery, Session, waitClients, waitGroup, type Loadgen, type Server } from '../lib/session';
import type { BenchConfig } from './config';
import { oursArgs, type BurstFigures } from './fanout';

/** The Redis backends the cluster scenario runs on. */
export const CLUSTER_BACKENDS = ['redis', 'redisCluster'] as const;
export type ClusterBackend = (typeof CLUSTER_BACKENDS)[number];
/** The two measurements of a session: every send to `all`, or rounds over G groups. */
export const CLUSTER_VARIANTS = ['all', 'spread'] as const;
export type ClusterVariant = (typeof CLUSTER_VARIANTS)[number];

/** One measured burst of one session. */
export interface ClusterVariantFigures {
  deliveriesPerSec: number;
  /** Node CPU (the three node processes together) per delivery, µs. */
  cpuUsPerDelivery: number;
  /** Redis CPU per delivery, µs: the one redis-server's, or the sum over the masters. */
  redisCpuUsPerDelivery: number;
  /** Each redis-server's CPU per delivery, µs, in master index order (one entry on one redis-server). */
  shardCpuUsPerDelivery: number[];
  /** Each redis-server's share of the Redis CPU of the burst (0…1), same order. */
  shardShare: number[];
  /** Group sends issued (sends, or sends × G for the spread variant). */
  groupSends: number;
  durationMs: number;
  issuedMs: number;
  nodeCpuUs: { gatewayA: number; gatewayB: number; pushOnly: number };
}

/** One session: one backend, both variants. */
export interface ClusterBackendFigures {
  /** Cores other processes of the machine used during the session (≈0 on a quiet machine). */
  foreignCores: number;
  all: ClusterVariantFigures;
  spread: ClusterVariantFigures;
}

export interface ClusterFigures {
  /** The larger of the two sessions' foreign load. */
  foreignCores: number;
  redis: ClusterBackendFigures;
  redisCluster: ClusterBackendFigures;
  /** The single-node (memory engine) burst of the same repeat. */
  single: { deliveriesPerSec: number; cpuUsPerDelivery: number };
}

/**
 * Our bench server on the Redis engine three times, with `engineArgs`: gateway nodes A and B, and C, push-only
 * (`--gateway=off`), from which the sends are issued.
 */
export function startRedisNodes(session: Session, engineArgs: string[]): Promise<[Server, Server, Server]> {
  return Promise.all([
    session.startServer('ours', 'node-A', engineArgs),
    session.startServer('ours', 'node-B', engineArgs),
    session.startServer('ours', 'node-C (push-only)', [...engineArgs, '--gateway=off']),
  ]);
}

/** Both sessions of one repeat: one redis-server, then the Redis Cluster. */
export async function runCluster(config: BenchConfig, single: BurstFigures): Promise<ClusterFigures> {
  const redis = await runClusterSession(config, 'redis');
  const redisCluster = await runClusterSession(config, 'redisCluster');
  return {
    foreignCores: Math.max(redis.foreignCores, redisCluster.foreignCores),
    redis,
    redisCluster,
    single: { deliveriesPerSec: single.deliveriesPerSec, cpuUsPerDelivery: single.cpuUsPerDelivery },
  };
}

/** Members of spread group `k` when the uids u0…u(n-1) are split by number mod `groups`. */
function spreadMembers(n: number, groups: number, k: number): number {
  return Math.floor(n / groups) + (k < n % groups ? 1 : 0);
}

async function runClusterSession(config: BenchConfig, backend: ClusterBackend): Promise<ClusterBackendFigures> {
  const { n, sends, bytes, clusterGroups } = config;
  const session = new Session(config.verbose);
  try {
    let engineArgs: string[];
    /** Each redis-server's CPU seconds so far, in master index order. */
    let redisCpu: () => Promise<number[]>;
    if (backend === 'redis') {
      const redis = await session.startRedis();
      engineArgs = [`--redis=${redis.url}`];
      redisCpu = async () => {
        const cpu = await redis.peer.request<{ userS: number; sysS: number }>('cpu');
        return [cpu.userS + cpu.sysS];
      };
    } else {
      const cluster = await session.startRedisCluster(config.clusterMasters);
      engineArgs = [`--redis-cluster=${cluster.startupNodes.join(',')}`];
      redisCpu = async () => (await cluster.cpu()).sort((x, y) => x.index - y.index).map((m) => m.userS + m.sysS);
    }
    engineArgs = ['--engine=redis', ...engineArgs, '--prefix=bench:', ...oursArgs(config)];
    const [a, b, c] = await startRedisNodes(session, engineArgs);
    const loadgens = await session.startLoadgens(loadgensFor(n));
    const nA = Math.ceil(n / 2);
    const nB = n - nA;
    await connectClients(loadgens, 'ours', [
      { url: `ws://127.0.0.1:${a.port}/ws`, count: nA },
      { url: `ws://127.0.0.1:${b.port}/ws`, count: nB },
    ]);
    await Promise.all([waitClients(a, nA), waitClients(b, nB)]);
    const bindTimeout = 60_000 + n * 20;
    const bindArgs = { concurrency: 64, spreadGroups: clusterGroups };
    const [boundA, boundB] = await Promise.all([
      a.peer.request<number>('bindAll', bindArgs, bindTimeout),
      b.peer.request<number>('bindAll', bindArgs, bindTimeout),
    ]);
    if (boundA + boundB !== n) throw new Error(`cluster (${backend}): bound ${boundA} + ${boundB} of ${n}`);
    // The push-only node sees every member through Redis.
    await waitGroup(c, n);
    const spread = Array.from({ length: clusterGroups }, (_, k) => spreadGroupOf(k));
    for (const [k, group] of spread.entries()) await waitGroup(c, spreadMembers(n, clusterGroups, k), group);

    const timeoutMs = 60_000 + n * sends;
    const measure = async (groups: string[] | undefined): Promise<ClusterVariantFigures> => {
      // Warm-up (not measured): the first send of a fresh process runs cold code.
      await measureDelivery({ loadgens, sender: c, measured: [], perClient: 1, bytes, latency: false, stall: false, timeoutMs, groups });
      return measureBurst(loadgens, [a, b, c], redisCpu, { n, sends, bytes, timeoutMs, groups });
    };
    const all = await measure(undefined);
    const spreadFigures = await measure(spread);
    return { foreignCores: session.foreignCores(), all, spread: spreadFigures };
  } catch (error) {
    throw session.explain(error);
  } finally {
    await session.close();
  }
}

async function measureBurst(
  loadgens: Loadgen[],
  [a, b, c]: Server[],
  redisCpu: () => Promise<number[]>,
  options: { n: number; sends: number; bytes: number; timeoutMs: number; groups: string[] | undefined },
): Promise<ClusterVariantFigures> {
  const { n, sends, bytes, timeoutMs, groups } = options;
  const cpu0 = await redisCpu();
  const d = await measureDelivery({ loadgens, sender: c, measured: [a, b, c], perClient: sends, bytes, latency: false, stall: false, timeoutMs, groups });
  const cpu1 = await redisCpu();
  const deliveries = n * sends;
  const [ma, mb, mc] = d.measures.map((m) => m.cpuUserUs + m.cpuSystemUs);
  const shardUs = cpu1.map((s, i) => (s - cpu0[i]) * 1e6);
  const redisUs = shardUs.reduce((x, y) => x + y, 0);
  return {
    deliveriesPerSec: deliveries / (d.durationMs / 1000),
    cpuUsPerDelivery: (ma + mb + mc) / deliveries,
    redisCpuUsPerDelivery: redisUs / deliveries,
    shardCpuUsPerDelivery: shardUs.map((us) => us / deliveries),
    shardShare: shardUs.map((us) => (redisUs > 0 ? us / redisUs : NaN)),
    groupSends: sends * (groups?.length || 1),
    durationMs: d.durationMs,
    issuedMs: d.send.issuedMs,
    nodeCpuUs: { gatewayA: ma, gatewayB: mb, pushOnly: mc },
  };
}

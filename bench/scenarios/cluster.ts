/**
 * Cluster burst: the burst scenario with the clients split over two gateway nodes (our bench server on the
 * Redis engine, the session's own redis-server) and the group sends issued from a third, push-only node
 * (`gateway: false`). Deliveries/s until the last arrived, CPU µs per delivery summed over the three node
 * processes, and redis-server's own CPU per delivery; compared with the single-node burst of the same repeat.
 */
import { connectClients, loadgensFor, measureDelivery, Session, waitClients, waitGroup } from '../lib/session';
import type { BenchConfig } from './config';
import { oursArgs, type BurstFigures } from './fanout';

export interface ClusterFigures {
  /** Cores other processes of the machine used during the session (≈0 on a quiet machine). */
  foreignCores: number;
  cluster: {
    deliveriesPerSec: number;
    cpuUsPerDelivery: number;
    redisCpuUsPerDelivery: number;
    durationMs: number;
    issuedMs: number;
    nodeCpuUs: { gatewayA: number; gatewayB: number; pushOnly: number };
  };
  single: { deliveriesPerSec: number; cpuUsPerDelivery: number };
}

export async function runCluster(config: BenchConfig, single: BurstFigures): Promise<ClusterFigures> {
  const { n, sends, bytes } = config;
  const session = new Session(config.verbose);
  try {
    const redis = await session.startRedis();
    const engineArgs = ['--engine=redis', `--redis=${redis.url}`, '--prefix=bench:', ...oursArgs(config)];
    const [a, b, c] = await Promise.all([
      session.startServer('ours', 'node-A', engineArgs),
      session.startServer('ours', 'node-B', engineArgs),
      session.startServer('ours', 'node-C (push-only)', [...engineArgs, '--gateway=off']),
    ]);
    const loadgens = await session.startLoadgens(loadgensFor(n));
    const nA = Math.ceil(n / 2);
    const nB = n - nA;
    await connectClients(loadgens, 'ours', [
      { url: `ws://127.0.0.1:${a.port}/ws`, count: nA },
      { url: `ws://127.0.0.1:${b.port}/ws`, count: nB },
    ]);
    await Promise.all([waitClients(a, nA), waitClients(b, nB)]);
    const bindTimeout = 60_000 + n * 20;
    const [boundA, boundB] = await Promise.all([
      a.peer.request<number>('bindAll', { concurrency: 64 }, bindTimeout),
      b.peer.request<number>('bindAll', { concurrency: 64 }, bindTimeout),
    ]);
    if (boundA + boundB !== n) throw new Error(`cluster: bound ${boundA} + ${boundB} of ${n}`);
    await waitGroup(c, n); // the push-only node sees every member through Redis

    const timeoutMs = 60_000 + n * sends;
    await measureDelivery({ loadgens, sender: c, measured: [], perClient: 1, bytes, latency: false, stall: false, timeoutMs });
    const cpu0 = await redis.peer.request<{ userS: number; sysS: number }>('cpu');
    const d = await measureDelivery({ loadgens, sender: c, measured: [a, b, c], perClient: sends, bytes, latency: false, stall: false, timeoutMs });
    const cpu1 = await redis.peer.request<{ userS: number; sysS: number }>('cpu');
    const deliveries = n * sends;
    const [ma, mb, mc] = d.measures.map((m) => m.cpuUserUs + m.cpuSystemUs);
    const redisUs = (cpu1.userS + cpu1.sysS - (cpu0.userS + cpu0.sysS)) * 1e6;
    return {
      foreignCores: session.foreignCores(),
      cluster: {
        deliveriesPerSec: deliveries / (d.durationMs / 1000),
        cpuUsPerDelivery: (ma + mb + mc) / deliveries,
        redisCpuUsPerDelivery: redisUs / deliveries,
        durationMs: d.durationMs,
        issuedMs: d.send.issuedMs,
        nodeCpuUs: { gatewayA: ma, gatewayB: mb, pushOnly: mc },
      },
      single: { deliveriesPerSec: single.deliveriesPerSec, cpuUsPerDelivery: single.cpuUsPerDelivery },
    };
  } catch (error) {
    throw session.explain(error);
  } finally {
    await session.close();
  }
}

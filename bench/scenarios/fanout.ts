/**
 * The fan-out session: one server (ours, raw ws or socket.io) in its own process, N clients from load generator
 * processes, every client bound to its uid and in two groups (`all` and a half) through the control channel.
 * Then, in this order and each only if selected:
 *   - idle memory: server `process.memoryUsage()` after GC, before any client vs. all connected and bound;
 *   - single broadcast: one unmeasured warm-up broadcast, then one measured message to `all`: p50/p99 delivery
 *     latency (send time in the payload) and the server's longest event-loop stall meanwhile;
 *   - burst: `sends` group sends to `all` back to back: deliveries/s until the last one arrived, and the
 *     server's CPU µs per delivery (cpuUsage window from before the first send until all arrived).
 */
import { percentile } from '../lib/common';
import { connectClients, loadgensFor, measureDelivery, Session, waitClients, waitGroup, type ClientKind } from '../lib/session';
import type { BenchConfig, Kind } from './config';

export interface FanoutSelection {
  memory: boolean;
  broadcast: boolean;
  burst: boolean;
}

export interface MemoryFigures {
  rssPerConnKiB: number;
  heapPerConnKiB: number;
  externalPerConnKiB: number;
  before: NodeJS.MemoryUsage;
  after: NodeJS.MemoryUsage;
}

export interface BroadcastFigures {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  maxStallMs: number;
  eldMaxMs: number;
  issuedMs: number;
  serverCpuUs: number;
  cpuUsPerDelivery: number;
}

export interface BurstFigures {
  deliveriesPerSec: number;
  cpuUsPerDelivery: number;
  durationMs: number;
  issuedMs: number;
  deliveries: number;
  /** Share of one core each load generator used while receiving (near 1 = the clients were the bottleneck). */
  loadgenCoreShare: number[];
  /** CPU the load generators used while receiving, µs per delivery (all of them together). */
  loadgenCpuUsPerDelivery: number;
}

export interface FanoutFigures {
  /** Cores other processes of the machine used during the session (≈0 on a quiet machine). */
  foreignCores: number;
  memory?: MemoryFigures;
  broadcast?: BroadcastFigures;
  burst?: BurstFigures;
}

const CLIENT_KIND: Record<Kind, ClientKind> = { ours: 'ours', ws: 'ws', socketio: 'socketio' };

/**
 * Arguments of our bench server for the run's extra module options (`--ours-options`), with `override` on top
 * (the recovery scenario's `resume: false`).
 */
export function oursArgs(config: BenchConfig, override?: Record<string, unknown>): string[] {
  if (!override) return config.oursOptions ? [`--options=${config.oursOptions}`] : [];
  const given = config.oursOptions ? (JSON.parse(config.oursOptions) as Record<string, unknown>) : {};
  return [`--options=${JSON.stringify({ ...given, ...override })}`];
}

/**
 * A variant of our server's session: its clients on the resumable protocol (`resume`) instead of the plain one, and
 * extra module options (`resume: false`). The default is the session as the memory, broadcast and burst scenarios run it.
 */
export interface FanoutVariant {
  clients?: ClientKind;
  options?: Record<string, unknown>;
}

export function wsUrlOf(kind: Kind, port: number): string {
  return kind === 'socketio' ? `http://127.0.0.1:${port}` : `ws://127.0.0.1:${port}/ws`;
}

export async function runFanout(config: BenchConfig, kind: Kind, which: FanoutSelection, variant: FanoutVariant = {}): Promise<FanoutFigures> {
  const { n, sends, bytes } = config;
  const session = new Session(config.verbose);
  const figures: FanoutFigures = { foreignCores: NaN };
  if (kind !== 'ours' && (variant.clients || variant.options)) throw new Error('only our server has variants');
  try {
    const server = await session.startServer(kind, kind, kind === 'ours' ? oursArgs(config, variant.options) : []);
    const before = which.memory ? await server.peer.request<NodeJS.MemoryUsage>('memory') : null;
    const loadgens = await session.startLoadgens(loadgensFor(n));
    await connectClients(loadgens, variant.clients ?? CLIENT_KIND[kind], [{ url: wsUrlOf(kind, server.port), count: n }]);
    await waitClients(server, n);
    const bound = await server.peer.request<number>('bindAll', { concurrency: 64 }, 120_000);
    if (bound !== n) throw new Error(`${kind}: bindAll bound ${bound} of ${n} clients`);
    await waitGroup(server, n);

    if (which.memory && before) {
      const after = await server.peer.request<NodeJS.MemoryUsage>('memory');
      const per = (key: keyof NodeJS.MemoryUsage) => (after[key] - before[key]) / n / 1024;
      figures.memory = {
        rssPerConnKiB: per('rss'),
        heapPerConnKiB: per('heapUsed'),
        externalPerConnKiB: per('external'),
        before,
        after,
      };
    }

    const timeoutMs = 60_000 + n * sends; // generous: ~1 ms per delivery on top of a minute
    if (which.broadcast || which.burst) {
      // Warm-up: the first broadcast of a fresh process runs cold code; it is not measured.
      await measureDelivery({ loadgens, sender: server, measured: [], perClient: 1, bytes, latency: false, stall: false, timeoutMs });
    }

    if (which.broadcast) {
      const d = await measureDelivery({ loadgens, sender: server, measured: [server], perClient: 1, bytes, latency: true, stall: true, timeoutMs });
      const lat = d.latencies!;
      if (lat.length !== n) throw new Error(`${kind}: ${lat.length} latencies for ${n} clients`);
      const m = d.measures[0];
      figures.broadcast = {
        p50Ms: percentile(lat, 50),
        p99Ms: percentile(lat, 99),
        maxMs: lat[lat.length - 1],
        maxStallMs: m.maxGapMs,
        eldMaxMs: m.eldMaxMs,
        issuedMs: d.send.issuedMs,
        serverCpuUs: m.cpuUserUs + m.cpuSystemUs,
        cpuUsPerDelivery: (m.cpuUserUs + m.cpuSystemUs) / n,
      };
    }

    if (which.burst) {
      const d = await measureDelivery({ loadgens, sender: server, measured: [server], perClient: sends, bytes, latency: false, stall: false, timeoutMs });
      const deliveries = n * sends;
      const m = d.measures[0];
      figures.burst = {
        deliveriesPerSec: deliveries / (d.durationMs / 1000),
        cpuUsPerDelivery: (m.cpuUserUs + m.cpuSystemUs) / deliveries,
        durationMs: d.durationMs,
        issuedMs: d.send.issuedMs,
        deliveries,
        loadgenCoreShare: d.loadgenCpu.map((c) => c.cpuUs / 1000 / c.wallMs),
        loadgenCpuUsPerDelivery: d.loadgenCpu.reduce((sum, c) => sum + c.cpuUs, 0) / deliveries,
      };
    }
    figures.foreignCores = session.foreignCores();
    return figures;
  } catch (error) {
    throw session.explain(error);
  } finally {
    await session.close();
  }
}

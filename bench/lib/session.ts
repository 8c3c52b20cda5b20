/**
 * One measuring session: the child processes it started (servers, load generators, sender, redis) and the
 * helpers that drive them. `close()` kills them all; the orchestrator's exit hook kills whatever is left.
 */
import { join, resolve } from 'node:path';
import { ALL_GROUP, pollUntil } from './common';
import { ForeignLoad } from './cpu';
import { Peer } from './ipc';
import type { MeasureResult, SendResult } from '../servers/control';

/** dist-bench/bench */
const BENCH_DIR = resolve(__dirname, '..');

export type ServerKind = 'ours' | 'ws' | 'socketio' | 'app';
/** `resume`: ours on the resumable protocol (subprotocol `nest-push.v1`, hello → welcome, enveloped messages). */
export type ClientKind = 'ours' | 'resume' | 'ws' | 'socketio';

const SERVER_SCRIPTS: Record<ServerKind, string> = {
  ours: 'servers/ours.js',
  ws: 'servers/ws-server.js',
  socketio: 'servers/socketio-server.js',
  app: 'servers/app-server.js',
};

/** Most sockets one load generator holds (fd limit 20,000 per process). */
export const MAX_PER_LOADGEN = 4_500;
/** Client sockets per source address (each address has ~28k ephemeral ports). */
export const PER_ADDRESS = 1_000;

let addressIndex = 0;

/**
 * Fresh loopback source addresses: 127.0.0.2, .3, … then 127.0.1.1, … (never .0 or .255). Every connect phase
 * of the run gets addresses no earlier phase used, so sockets left in TIME_WAIT never eat the ports it needs.
 */
export function takeAddresses(count: number): string[] {
  const out: string[] = [];
  while (out.length < count) {
    const n = 2 + addressIndex++;
    const a = (n >> 16) & 0xff;
    const b = (n >> 8) & 0xff;
    const c = n & 0xff;
    if (c === 0 || c === 255) continue;
    if (a > 0xfe) throw new Error('ran out of loopback source addresses');
    out.push(`127.${a}.${b}.${c}`);
  }
  return out;
}

/** One master's CPU use since it started (INFO cpu), seconds. */
export interface MasterCpu {
  /** Index in the cluster (as in `RedisClusterHandle.nodes`). */
  index: number;
  port: number;
  pid: number;
  userS: number;
  sysS: number;
}

/** The session's own Redis Cluster, started by {@link Session.startRedisCluster}. */
export interface RedisClusterHandle {
  peer: Peer;
  /** Every master's address, in index order (ioredis `Cluster` startup nodes). */
  nodes: { host: string; port: number }[];
  /** The same as `host:port` strings (the form of `REDIS_CLUSTER_NODES`). */
  startupNodes: string[];
  /** Each master's CPU seconds so far; the difference of two calls is what each shard spent in between. */
  cpu(): Promise<MasterCpu[]>;
}

export interface Server {
  peer: Peer;
  port: number;
}

export interface Loadgen {
  peer: Peer;
  index: number;
}

export class Session {
  private readonly peers: Peer[] = [];
  private readonly keepers: Peer[] = [];
  private readonly extraPids: number[] = [];
  /** Children stopped on purpose ({@link Session.stopServer}): their exit does not abort the session. */
  private readonly stopping = new Set<Peer>();
  private readonly load = new ForeignLoad();
  private closing = false;
  /** The first child that died on its own: the session is aborted and this is the root cause. */
  private failure: string | null = null;

  constructor(private readonly verbose: boolean) {}

  private fork(name: string, script: string, args: string[] = [], execArgv: string[] = [], killSignal?: NodeJS.Signals): Peer {
    const peer = Peer.fork(name, join(BENCH_DIR, script), args, { execArgv, verbose: this.verbose, killSignal });
    this.peers.push(peer);
    // A child that dies on its own ends the session at once: every other child is killed, so whatever the
    // scenario is waiting for fails now instead of at its timeout.
    void peer.exited.then(({ code, signal }) => {
      if (this.closing || this.failure || this.stopping.has(peer)) return;
      this.failure = `${peer.name} (pid ${peer.pid}) died during the session (code ${code}, signal ${signal})` +
        (peer.output().trim() ? `\n--- last output of ${peer.name} ---\n${peer.output().trim().slice(-3000)}\n---` : '');
      for (const other of this.peers) void other.kill().catch(() => undefined);
    });
    return peer;
  }

  /**
   * Average cores that processes outside this session (and outside the orchestrator) used since it started:
   * near 0 on a quiet machine; more means the figures of this session are skewed.
   */
  foreignCores(): number {
    const pids = this.peers.filter((p) => !p.exitInfo && p.pid !== undefined).map((p) => p.pid!);
    return this.load.cores([...pids, ...this.extraPids]);
  }

  /** The error to report for a failed session: the root cause first when a child died on its own. */
  explain(error: unknown): Error {
    if (!this.failure) return error as Error;
    return new Error(`${this.failure}\n(which then made this fail: ${(error as Error)?.message ?? String(error)})`);
  }

  /** Starts a bench server (with `--expose-gc`) and waits until it listens. */
  async startServer(kind: ServerKind, name: string = kind, args: string[] = []): Promise<Server> {
    const peer = this.fork(name, SERVER_SCRIPTS[kind], args, ['--expose-gc']);
    const ready = await peer.waitFor<{ port: number }>('ready', 30_000, `${name} listening`);
    return { peer, port: ready.port };
  }

  /**
   * Stops a server on purpose with `signal` (ours: SIGTERM = a graceful `app.close()`), without aborting the session,
   * and resolves once it exited (at most `timeoutMs`), with how it exited.
   */
  async stopServer(server: Server, signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 30_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.stopping.add(server.peer);
    server.peer.child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        server.peer.exited,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`${server.peer.name} still running ${timeoutMs} ms after ${signal}\n${server.peer.output().slice(-3000)}`)),
            timeoutMs,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Starts `count` load generator processes. */
  async startLoadgens(count: number): Promise<Loadgen[]> {
    const loadgens = Array.from({ length: count }, (_, index) => ({ peer: this.fork(`loadgen-${index}`, 'loadgen.js'), index }));
    await Promise.all(loadgens.map((lg) => lg.peer.waitFor('ready', 20_000, `${lg.peer.name} start`)));
    return loadgens;
  }

  async startSender(): Promise<Peer> {
    const peer = this.fork('sender', 'sender.js');
    await peer.waitFor('ready', 20_000, 'sender start');
    return peer;
  }

  /** Starts the session's own redis-server (free port, no persistence) through a keeper process. */
  async startRedis(): Promise<{ peer: Peer; url: string }> {
    const peer = this.fork('redis', 'lib/redis-keeper.js', [], [], 'SIGTERM');
    this.keepers.push(peer);
    const ready = await peer.waitFor<{ url: string; pid: number }>('ready', 20_000, 'redis-server ready');
    this.extraPids.push(ready.pid);
    return { peer, url: ready.url };
  }

  /**
   * Starts the session's own Redis Cluster (`masters` masters, no replicas, free ports, no persistence) through a
   * keeper process, which reports each master's CPU.
   */
  async startRedisCluster(masters = 3): Promise<RedisClusterHandle> {
    const peer = this.fork('redis-cluster', 'lib/redis-cluster-keeper.js', [String(masters)], [], 'SIGTERM');
    this.keepers.push(peer);
    const ready = await peer.waitFor<{ nodes: { host: string; port: number }[]; startupNodes: string[]; pids: number[] }>(
      'ready',
      45_000,
      'redis cluster ready',
    );
    this.extraPids.push(...ready.pids);
    return { peer, nodes: ready.nodes, startupNodes: ready.startupNodes, cpu: () => peer.request<MasterCpu[]>('cpu') };
  }

  /** Kills every process of the session (servers first, so clients do not measure anything on the way out). */
  async close(): Promise<void> {
    this.closing = true;
    for (const keeper of this.keepers) await keeper.request('stop', {}, 5_000).catch(() => undefined);
    const results = await Promise.allSettled(this.peers.map((peer) => peer.kill()));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }
}

/** How many load generators N clients need. */
export function loadgensFor(n: number): number {
  return Math.max(1, Math.ceil(n / MAX_PER_LOADGEN));
}

/** Options of a resume-storm client (kind `resume`): it reconnects and resumes, and checks what the stream sent it. */
export interface StormClientOptions {
  /** Storm groups (the client is in `storm-<uid number mod groups>`). */
  groups: number;
  /** Reconnect backoff: attempt n waits a random time in [0, min(max, initial × 2ⁿ)) ms, as the official client. */
  backoffInitialMs: number;
  backoffMaxMs: number;
}

/**
 * Connects clients: each target's `count` clients are spread evenly over the load generators, uids numbered
 * from `uidStart` (default 0) across targets, each (load generator, target) share on fresh source addresses.
 */
export async function connectClients(
  loadgens: Loadgen[],
  kind: ClientKind,
  targets: { url: string; count: number }[],
  options: { uidStart?: number; storm?: StormClientOptions } = {},
): Promise<void> {
  let uid = options.uidStart ?? 0;
  const jobs: Promise<unknown>[] = [];
  const perLoadgen = new Map<Loadgen, { url: string; count: number; uidStart: number }[]>();
  for (const target of targets) {
    for (const lg of loadgens) {
      const count = Math.floor(target.count / loadgens.length) + (lg.index < target.count % loadgens.length ? 1 : 0);
      if (count === 0) continue;
      const list = perLoadgen.get(lg) ?? [];
      list.push({ url: target.url, count, uidStart: uid });
      perLoadgen.set(lg, list);
      uid += count;
    }
  }
  for (const [lg, list] of perLoadgen) {
    const total = list.reduce((sum, job) => sum + job.count, 0);
    if (total > MAX_PER_LOADGEN) throw new Error(`${lg.peer.name} would hold ${total} sockets (max ${MAX_PER_LOADGEN})`);
    jobs.push(
      (async () => {
        for (const job of list) {
          const addresses = takeAddresses(Math.ceil(job.count / PER_ADDRESS));
          const timeoutMs = 60_000 + job.count * 20;
          await lg.peer.request('connect', { kind, ...job, addresses, perAddress: PER_ADDRESS, storm: options.storm }, timeoutMs);
        }
      })(),
    );
  }
  await Promise.all(jobs);
}

/** Waits until a server reports `n` connections. */
export async function waitClients(server: Server, n: number, timeoutMs = 30_000): Promise<void> {
  await pollUntil(
    async () => {
      const count = await server.peer.request<number>('clients');
      return { ok: count === n, state: count };
    },
    timeoutMs,
    `${server.peer.name} to hold ${n} connections`,
  );
}

/** Waits until a server sees `n` members in a group. */
export async function waitGroup(server: Server, n: number, group = ALL_GROUP, timeoutMs = 30_000): Promise<void> {
  await pollUntil(
    async () => {
      const count = await server.peer.request<number>('groupCount', { group });
      return { ok: count === n, state: count };
    },
    timeoutMs,
    `${server.peer.name} to see ${n} members in "${group}"`,
  );
}

export interface Delivery {
  send: SendResult;
  /** `measureStop` of each measured server, in the order given. */
  measures: MeasureResult[];
  /** Latest receipt over all clients (nowMs). */
  lastAt: number;
  /** From the first send to the last receipt, ms. */
  durationMs: number;
  /** Sorted latencies (ms) when asked for. */
  latencies: number[] | null;
  /** CPU time of each load generator while receiving, µs, and its wall time, ms. */
  loadgenCpu: { cpuUs: number; wallMs: number }[];
}

let token = 0;

/**
 * One measured delivery: arms the load generators for `perClient` messages per client, opens a CPU (and stall)
 * window on the measured servers, has `sender` issue `perClient` group sends back to back (or rounds over `groups`), waits until every
 * client got every message (hard timeout), then closes the windows.
 */
export async function measureDelivery(options: {
  loadgens: Loadgen[];
  sender: Server;
  measured: Server[];
  perClient: number;
  bytes: number;
  latency: boolean;
  stall: boolean;
  timeoutMs: number;
  /**
   * Instead of `perClient` sends to `all`: `perClient` rounds of one send to each of these groups (which must
   * split the clients between them, so each client still gets `perClient` messages).
   */
  groups?: string[];
}): Promise<Delivery> {
  const { loadgens, sender, measured, perClient, bytes, latency, stall, timeoutMs, groups } = options;
  const mine = ++token;
  const collectedClients = (
    await Promise.all(loadgens.map((lg) => lg.peer.request<{ clients: number }>('expect', { perClient, latency, token: mine })))
  ).map((r) => r.clients);
  const dones = Promise.all(
    loadgens.map((lg) =>
      lg.peer.waitFor<{ token: number; lastAt: number; cpuUs: number; wallMs: number }>(
        'done',
        timeoutMs,
        `receipt of ${perClient} message(s) by each of its clients`,
        (data) => data.token === mine,
      ),
    ),
  );
  dones.catch(() => undefined); // awaited below; this only stops an early failure from being "unhandled"
  await Promise.all(measured.map((server) => server.peer.request('measureStart', { stall })));
  const send = await sender.peer.request<SendResult>('send', { group: ALL_GROUP, groups, count: perClient, bytes }, timeoutMs);
  let done: { lastAt: number; cpuUs: number; wallMs: number }[];
  try {
    done = await dones;
  } catch (error) {
    const status = await Promise.all(loadgens.map((lg) => lg.peer.request('status', {}, 5_000).catch((e: Error) => e.message)));
    throw new Error(`${(error as Error).message}\nload generator status: ${JSON.stringify(status)}; send: ${JSON.stringify(send)}`);
  }
  const measures = await Promise.all(measured.map((server) => server.peer.request<MeasureResult>('measureStop')));
  const collected = await Promise.all(
    loadgens.map((lg) =>
      lg.peer.request<{
        latencies: number[];
        minPerClient: number;
        maxPerClient: number;
        unexpectedCloses: number;
        outOfOrder: number;
      }>('collect'),
    ),
  );
  for (const [i, c] of collected.entries()) {
    if (c.minPerClient !== perClient || c.maxPerClient !== perClient || c.unexpectedCloses || c.outOfOrder) {
      throw new Error(
        `${loadgens[i].peer.name}: each client should have ${perClient} message(s) in order, got between ` +
          `${c.minPerClient} and ${c.maxPerClient}, ${c.outOfOrder} out of order; ` +
          `${c.unexpectedCloses} connection(s) closed unexpectedly`,
      );
    }
  }
  const latencies = latency ? collected.flatMap((c) => c.latencies).sort((a, b) => a - b) : null;
  const lastAt = Math.max(...done.map((d) => d.lastAt));
  const expected = perClient * loadgens.reduce((sum, _lg, i) => sum + collectedClients[i], 0);
  if (send.delivered !== expected) {
    console.log(`  note: ${sender.peer.name} reported ${send.delivered} deliveries for ${perClient} send(s), clients got ${expected}`);
  }
  return {
    send,
    measures,
    lastAt,
    durationMs: lastAt - send.t0,
    latencies,
    loadgenCpu: done.map((d) => ({ cpuUs: d.cpuUs, wallMs: d.wallMs })),
  };
}

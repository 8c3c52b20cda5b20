import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { freePort } from './redis-server';
import { redisKeySlot } from '../../libs/push/src/engine/redis/redis-key-slot';

/** Where a cluster node listens, in the shape ioredis `Cluster` takes as startup nodes. */
export interface ClusterNodeAddress {
  host: string;
  port: number;
}

/** Options of {@link RedisCluster.start}. */
export interface RedisClusterOptions {
  /** Masters (no replicas). `redis-cli --cluster create` needs at least 3. Default 3. */
  masters?: number;
  /**
   * `cluster-node-timeout`, ms. Default 1000: a killed master is flagged FAIL about 1-2 s later, which keeps the
   * failure tests short. A node that cannot reach the majority of masters for this long also turns itself
   * `cluster_state:fail`, so a caller that loads the machine hard and kills nothing (the bench) should pass a
   * larger value, so that a stall of a busy redis-server is never mistaken for a dead one.
   */
  nodeTimeoutMs?: number;
  /** Bound on every wait of the start (process ready, `--cluster create`, cluster healthy). Default 30 s. */
  timeoutMs?: number;
}

/** How much of a node's log is kept, for error messages. */
const LOG_TAIL = 8 * 1024;
const HOST = '127.0.0.1';
/** Pause between two polls of the nodes' cluster state: a poll costs one connection and two commands per node. */
const POLL_MS = 25;
/** Number of hash slots of Redis Cluster. */
export const CLUSTER_SLOTS = 16384;

/** One redis-server of the cluster: its ports, its directory (which holds its nodes.conf) and its process. */
class ClusterNode {
  child: ChildProcess | null = null;
  log = '';
  /** Node id (CLUSTER MYID), kept for the whole life of the node since nodes.conf survives restarts. */
  id = '';

  constructor(
    readonly port: number,
    /** The cluster bus port, set explicitly: the default (port + 10000) can be above 65535 or taken. */
    readonly busPort: number,
    readonly dir: string,
    private readonly nodeTimeoutMs: number,
  ) {}

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts redis-server (same port, same nodes.conf every time) and resolves once it accepts connections. */
  launch(timeoutMs: number): Promise<void> {
    const binary = process.env.REDIS_SERVER ?? 'redis-server';
    const args = [
      '--port', String(this.port),
      '--bind', HOST,
      '--protected-mode', 'no',
      // No RDB, no AOF: a restarted master comes back with its slots (from nodes.conf) but no data, like a
      // crashed cache.
      '--save', '',
      '--appendonly', 'no',
      '--dir', this.dir,
      '--cluster-enabled', 'yes',
      '--cluster-port', String(this.busPort),
      '--cluster-config-file', join(this.dir, `nodes-${this.port}.conf`),
      '--cluster-node-timeout', String(this.nodeTimeoutMs),
      // With the default (yes), once one master is flagged FAIL every node answers CLUSTERDOWN to every command,
      // so one dead master would take the whole cluster down. With `no` the other masters keep serving their own
      // slots, which is the partial outage an engine has to handle (and the one the tests play).
      '--cluster-require-full-coverage', 'no',
    ];
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.log = '';
    const keep = (chunk: Buffer) => {
      this.log = (this.log + chunk.toString()).slice(-LOG_TAIL);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        child.kill('SIGKILL');
        reject(new Error(`redis-server on port ${this.port} not ready within ${timeoutMs} ms:\n${this.log}`));
      }, timeoutMs);
      const onData = () => {
        if (this.log.includes('Ready to accept connections')) {
          cleanup();
          resolve();
        }
      };
      const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
        cleanup();
        reject(new Error(`redis-server on port ${this.port} exited (code ${code}, signal ${signal}):\n${this.log}`));
      };
      const onError = (error: Error) => {
        cleanup();
        reject(error);
      };
      const cleanup = () => {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        child.off('exit', onExit);
        child.off('error', onError);
      };
      child.stdout!.on('data', onData);
      child.once('exit', onExit);
      child.once('error', onError);
    });
  }

  /** SIGKILL, and waits until the process is gone. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
    this.child = null;
  }
}

/**
 * A real Redis Cluster of the test's own: N masters (no replicas) on free ports, created with
 * `redis-cli --cluster create`, with no persistence. A test can SIGKILL one master and restart it (same port,
 * same nodes.conf: it rejoins owning its slots, empty) to play the loss of a shard.
 *
 * Slots never move (no replicas, no failover, no resharding), so the slot map read after the creation stays true.
 */
export class RedisCluster {
  /** Slot ranges of each master (index as in {@link nodes}), inclusive. */
  private ranges: [number, number][][] = [];
  private closed = false;

  private constructor(
    private readonly members: ClusterNode[],
    private readonly root: string,
    private readonly timeoutMs: number,
  ) {}

  /**
   * Starts the servers in parallel, creates the cluster and waits until every node is `ok` and agrees on the slots.
   * A port taken by someone else between the probe and redis-server's bind is retried with new ports (twice).
   */
  static async start(options: RedisClusterOptions = {}): Promise<RedisCluster> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await RedisCluster.startOnce(options);
      } catch (error) {
        if (attempt >= 3 || !/Address already in use/.test((error as Error).message)) throw error;
      }
    }
  }

  private static async startOnce(options: RedisClusterOptions): Promise<RedisCluster> {
    const masters = options.masters ?? 3;
    if (!Number.isInteger(masters) || masters < 3) throw new Error(`a cluster needs at least 3 masters (got ${masters})`);
    const timeoutMs = options.timeoutMs ?? 30_000;
    const nodeTimeoutMs = options.nodeTimeoutMs ?? 1_000;
    const root = mkdtempSync(join(tmpdir(), 'push-redis-cluster-'));
    const members: ClusterNode[] = [];
    const cluster = new RedisCluster(members, root, timeoutMs);
    try {
      const ports = await distinctFreePorts(masters * 2);
      for (let i = 0; i < masters; i++) {
        const dir = join(root, `node-${i}`);
        mkdirSync(dir);
        members.push(new ClusterNode(ports[i], ports[masters + i], dir, nodeTimeoutMs));
      }
      const launched = await Promise.allSettled(members.map((node) => node.launch(timeoutMs)));
      const failed = launched.find((result): result is PromiseRejectedResult => result.status === 'rejected');
      if (failed) throw failed.reason;
      await cluster.create();
      await cluster.waitHealthy();
      await cluster.readLayout();
      return cluster;
    } catch (error) {
      cluster.killNow();
      throw error;
    }
  }

  /** Every master's address, in index order (the startup nodes of an ioredis `Cluster`). */
  get nodes(): ClusterNodeAddress[] {
    return this.members.map((node) => ({ host: HOST, port: node.port }));
  }

  /** Every master as `host:port` (the form of `REDIS_CLUSTER_NODES`). */
  get startupNodes(): string[] {
    return this.members.map((node) => `${HOST}:${node.port}`);
  }

  /** The temporary directory that holds every node's directory (removed by {@link close}). */
  get directory(): string {
    return this.root;
  }

  /** Number of masters. */
  get size(): number {
    return this.members.length;
  }

  /** The index of the master that owns a slot, or the slot of a key (hash tags honoured). */
  masterOf(slotOrKey: number | string): number {
    const slot = typeof slotOrKey === 'number' ? slotOrKey : keySlot(slotOrKey);
    if (!Number.isInteger(slot) || slot < 0 || slot >= CLUSTER_SLOTS) throw new Error(`not a slot: ${slot}`);
    const index = this.ranges.findIndex((ranges) => ranges.some(([from, to]) => slot >= from && slot <= to));
    if (index < 0) throw new Error(`slot ${slot} has no master`);
    return index;
  }

  /** The slot ranges (inclusive) master `i` owns. */
  slotsOf(i: number): [number, number][] {
    this.member(i);
    return this.ranges[i].map(([from, to]) => [from, to]);
  }

  /** The node id of master `i` (stable across restarts). */
  idOf(i: number): string {
    return this.member(i).id;
  }

  /** The pid of master `i`, or undefined while it is stopped. */
  pidOf(i: number): number | undefined {
    const node = this.member(i);
    return node.running ? node.child!.pid : undefined;
  }

  /** The redis-server process of master `i` (null while stopped), for callers that watch or reap it themselves. */
  childOf(i: number): ChildProcess | null {
    const node = this.member(i);
    return node.running ? node.child : null;
  }

  /** The last few KB that master `i` logged (for error messages). */
  logOf(i: number): string {
    return this.member(i).log;
  }

  /** Kills master `i` (SIGKILL: no goodbye to the clients or the other nodes) and waits until it is gone. */
  async stopMaster(i: number): Promise<void> {
    await this.member(i).kill();
  }

  /**
   * Starts master `i` again on the same port with the same nodes.conf, so it rejoins owning its slots, but with no
   * data. Kills it first if it runs. Resolves when the cluster is healthy again (every node `ok` and agreeing on
   * every slot), or, with `waitForCluster: false`, as soon as the process accepts connections (it then still
   * answers CLUSTERDOWN for a moment: a restarted master waits before it serves).
   */
  async restartMaster(i: number, options: { waitForCluster?: boolean } = {}): Promise<void> {
    const node = this.member(i);
    await node.kill();
    await node.launch(this.timeoutMs);
    if (options.waitForCluster ?? true) await this.waitHealthy();
  }

  /**
   * Waits (polling, bounded by `timeoutMs`) until every node reports `cluster_state:ok` with all 16384 slots
   * `ok`, knows every other node, and all nodes return the same slot map.
   */
  async waitHealthy(timeoutMs = this.timeoutMs): Promise<void> {
    let last = '';
    await pollUntil(async () => {
      const views = await Promise.all(this.members.map((node) => clusterView(node.port).catch((e: Error) => e)));
      const problems: string[] = [];
      for (const [i, view] of views.entries()) {
        if (view instanceof Error) {
          problems.push(`node ${i}: ${view.message}`);
          continue;
        }
        const info = view.info;
        if (info.cluster_state !== 'ok') problems.push(`node ${i}: cluster_state ${info.cluster_state}`);
        if (info.cluster_slots_ok !== String(CLUSTER_SLOTS)) problems.push(`node ${i}: ${info.cluster_slots_ok} slots ok`);
        if (info.cluster_known_nodes !== String(this.members.length)) {
          problems.push(`node ${i}: knows ${info.cluster_known_nodes} nodes`);
        }
      }
      const maps = new Set(views.map((view) => (view instanceof Error ? '' : view.slots)));
      if (maps.size !== 1) problems.push('nodes disagree on the slot map');
      last = problems.join('; ');
      return problems.length === 0;
    }, timeoutMs, () => `the cluster to be healthy (${last})`);
  }

  /**
   * Waits until every other running node has flagged master `i` as `fail` (not just `pfail`): from then on they
   * have given up on it (it happens about node-timeout to 2 × node-timeout after it died).
   */
  async waitFlaggedFailed(i: number, timeoutMs = this.timeoutMs): Promise<void> {
    const id = this.member(i).id;
    const others = this.members.filter((node, j) => j !== i && node.running);
    await pollUntil(async () => {
      const flags = await Promise.all(others.map((node) => nodeFlags(node.port, id).catch(() => [] as string[])));
      return flags.every((list) => list.includes('fail'));
    }, timeoutMs, () => `every other node to flag master ${i} as failed`);
  }

  /** Kills every node and removes their directories. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.members.map((node) => node.kill()));
    rmSync(this.root, { recursive: true, force: true });
  }

  /** Kills every node without waiting (for `process.on('exit')`, where nothing asynchronous runs any more). */
  killNow(): void {
    this.closed = true;
    for (const node of this.members) {
      if (node.running) node.child!.kill('SIGKILL');
    }
    rmSync(this.root, { recursive: true, force: true });
  }

  private member(i: number): ClusterNode {
    if (this.closed) throw new Error('the cluster is closed');
    const node = this.members[i];
    if (!node) throw new Error(`no master ${i} (the cluster has ${this.members.length})`);
    return node;
  }

  /** `redis-cli --cluster create`: assigns the slots evenly, sets distinct config epochs, and MEETs the nodes. */
  private create(): Promise<void> {
    const binary = process.env.REDIS_CLI ?? 'redis-cli';
    const args = ['--cluster', 'create', ...this.startupNodes, '--cluster-replicas', '0', '--cluster-yes'];
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-LOG_TAIL)));
    child.stderr!.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-LOG_TAIL)));
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`redis-cli --cluster create did not finish within ${this.timeoutMs} ms:\n${output}`));
      }, this.timeoutMs);
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(new Error(`could not run ${binary} (Debian package redis-tools): ${error.message}`));
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        if (code === 0) resolve();
        else reject(new Error(`redis-cli --cluster create exited with ${code}:\n${output}`));
      });
    });
  }

  /** Reads each master's id and slot ranges (from node 0's CLUSTER SLOTS: all nodes agree by now). */
  private async readLayout(): Promise<void> {
    const slots = (await query(this.members[0].port, ['CLUSTER', 'SLOTS'])) as [number, number, [string, number, string]][];
    this.ranges = this.members.map(() => []);
    for (const [from, to, [, port]] of slots) {
      const index = this.members.findIndex((node) => node.port === Number(port));
      if (index < 0) throw new Error(`CLUSTER SLOTS names an unknown node on port ${port}`);
      this.ranges[index].push([from, to]);
    }
    for (const ranges of this.ranges) ranges.sort((a, b) => a[0] - b[0]);
    for (const node of this.members) node.id = String(await query(node.port, ['CLUSTER', 'MYID']));
  }
}

/** `count` ports, distinct from each other, that were free a moment ago. */
async function distinctFreePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

/** One command on a node over a connection of its own (no retry, no offline queue), then disconnects. */
async function query(port: number, args: string[]): Promise<unknown> {
  const client = new Redis({
    host: HOST,
    port,
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 1_000,
  });
  client.on('error', () => undefined); // the rejection below carries it
  try {
    await client.connect();
    return await client.call(args[0], ...args.slice(1));
  } finally {
    client.disconnect();
  }
}

/** A node's CLUSTER INFO fields and its slot map as a comparable string. */
async function clusterView(port: number): Promise<{ info: Record<string, string>; slots: string }> {
  const text = String(await query(port, ['CLUSTER', 'INFO']));
  const info: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const at = line.indexOf(':');
    if (at > 0) info[line.slice(0, at)] = line.slice(at + 1);
  }
  const slots = (await query(port, ['CLUSTER', 'SLOTS'])) as [number, number, [string, number, string]][];
  const map = slots.map(([from, to, [host, nodePort, id]]) => `${from}-${to}@${host}:${nodePort}/${id}`).sort();
  return { info, slots: map.join(',') };
}

/** The flags (`master`, `myself`, `pfail`, `fail`, …) that the node on `port` gives node `id` in CLUSTER NODES. */
async function nodeFlags(port: number, id: string): Promise<string[]> {
  const text = String(await query(port, ['CLUSTER', 'NODES']));
  const line = text.split('\n').find((l) => l.startsWith(`${id} `));
  return line ? line.split(' ')[2].split(',') : [];
}

async function pollUntil(check: () => Promise<boolean>, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/**
 * The hash slot of a key or channel, as Redis Cluster computes it (CRC16 of the hash tag or of the whole name, mod
 * 16384): the engine's own function, which test/redis-shard-listener.e2e-spec.ts checks against CLUSTER KEYSLOT.
 */
export const keySlot = redisKeySlot;

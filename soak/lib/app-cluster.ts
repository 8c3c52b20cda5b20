/**
 * The servers of one soak run, each the example app as `npm start` runs it (`node dist/src/main.js`, a child
 * process of its own, so its RSS is its own): one node on the memory engine, or two gateway nodes and a push-only
 * node on a redis-server of the run's own. `stop()` reaps them all, redis-server included; so does `killNow()`
 * from an exit handler.
 */
import { randomBytes } from 'node:crypto';
import { NodeProcess } from '../../test/support/node-process';
import { RedisServer } from '../../test/support/redis-server';
import type { SoakEngine } from '../soak.options';

export interface AppNode {
  name: string;
  gateway: boolean;
  process: NodeProcess;
}

export interface AppClusterOptions {
  engine: SoakEngine;
  root: string;
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  nodeTtlMs: number;
  verbose: boolean;
}

const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 8_000;

export class AppCluster {
  readonly nodes: AppNode[] = [];
  redis: RedisServer | null = null;
  /** Key prefix of this run on Redis (a fresh one, so nothing left by another run is counted). */
  readonly prefix = `soak-${randomBytes(4).toString('hex')}:`;
  private stopping = false;
  private deathListeners: ((why: string) => void)[] = [];

  private constructor(private readonly options: AppClusterOptions) {}

  static async start(options: AppClusterOptions): Promise<AppCluster> {
    const cluster = new AppCluster(options);
    try {
      await cluster.launch();
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  /** Nodes that hold sockets. */
  get gateways(): AppNode[] {
    return this.nodes.filter((node) => node.gateway);
  }

  /** Where pushes and /stats go: the push-only node on Redis, the one node otherwise. */
  get pushNode(): AppNode {
    return this.nodes.find((node) => !node.gateway) ?? this.nodes[0];
  }

  /** Calls `listener` once if any node (or redis-server) ends while the run still needs it. */
  onDeath(listener: (why: string) => void): void {
    this.deathListeners.push(listener);
  }

  /** SIGTERM every node (their graceful shutdown), SIGKILL whatever is still there after 8 s, then redis-server. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(
      this.nodes.map(async ({ process: node }) => {
        if (!node.running) return;
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          node.terminate(),
          new Promise((resolve) => (timer = setTimeout(resolve, STOP_TIMEOUT_MS))),
        ]);
        clearTimeout(timer);
        if (node.running) await node.kill('SIGKILL');
      }),
    );
    await this.redis?.close();
  }

  /** Synchronous last resort for `process.on('exit')`. */
  killNow(): void {
    this.stopping = true;
    for (const { process: node } of this.nodes) if (node.running) void node.kill('SIGKILL');
    this.redis?.killNow();
  }

  /** The tail of every node's output, for a failure report. */
  outputs(max = 3_000): string {
    return this.nodes.map(({ process: node }) => node.output(max)).join('\n');
  }

  private async launch(): Promise<void> {
    const { engine, heartbeatIntervalMs, heartbeatTimeoutMs, nodeTtlMs } = this.options;
    const env: Record<string, string> = {
      COOKIE_SECRET: randomBytes(16).toString('hex'),
      PUSH_HEARTBEAT_INTERVAL_MS: String(heartbeatIntervalMs),
      PUSH_HEARTBEAT_TIMEOUT_MS: String(heartbeatTimeoutMs),
    };
    const specs: { name: string; gateway: boolean }[] = [{ name: 'A', gateway: true }];
    if (engine === 'redis') {
      this.redis = await RedisServer.start();
      this.watch('redis-server', this.redis.child!);
      Object.assign(env, {
        PUSH_ENGINE: 'redis',
        REDIS_URL: this.redis.url,
        PUSH_REDIS_PREFIX: this.prefix,
        PUSH_NODE_TTL_MS: String(nodeTtlMs),
      });
      specs.push({ name: 'B', gateway: true }, { name: 'C', gateway: false });
    }
    // Started one after another: they are few, and each start is then bounded on its own.
    for (const spec of specs) {
      const node = await NodeProcess.start(
        `node ${spec.name}`,
        { ...env, ...(spec.gateway ? {} : { PUSH_GATEWAY: 'off' }) },
        START_TIMEOUT_MS,
        { root: this.options.root },
      );
      this.nodes.push({ ...spec, process: node });
      void node.exited.then(({ code, signal }) => {
        if (!this.stopping) this.died(`node ${spec.name} exited (code ${code}, signal ${signal})\n${node.output(3_000)}`);
      });
      if (this.options.verbose) process.stderr.write(`soak: node ${spec.name} on ${node.url} (pid ${node.pid})\n`);
    }
  }

  private watch(name: string, child: { once(event: 'exit', cb: (code: number | null) => void): unknown }): void {
    child.once('exit', (code) => {
      if (!this.stopping) this.died(`${name} exited (code ${code})`);
    });
  }

  private died(why: string): void {
    for (const listener of this.deathListeners.splice(0)) listener(why);
  }
}

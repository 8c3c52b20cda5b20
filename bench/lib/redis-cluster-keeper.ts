/**
 * Runs the bench's own Redis Cluster (N masters, no replicas, no persistence, free ports; never the machine's
 * redis on 6379) and kills it when told to stop, on SIGTERM, or as soon as the orchestrator goes away (IPC
 * disconnect), so no redis-server outlives a run. Answers `cpu`: each master's own CPU seconds (INFO cpu, the
 * same source as the single-server keeper), so a scenario can show how traffic spreads over the shards.
 *
 * Usage (forked by `Session.startRedisCluster`): `redis-cluster-keeper.js [masters]`, default 3.
 */
import Redis from 'ioredis';
import { RedisCluster } from '../../test/support/redis-cluster';
import { emit, guardChild, serve } from './ipc';
import type { MasterCpu } from './session';

guardChild();

/**
 * `cluster-node-timeout` of the bench cluster. Nothing is killed during a bench, while the machine is loaded
 * hard: a large timeout makes sure a redis-server stalled behind the load generators is never flagged as failed
 * (a master that cannot reach the others for this long turns itself `cluster_state:fail`).
 */
const NODE_TIMEOUT_MS = 15_000;

async function main(): Promise<void> {
  const masters = Number(process.argv[2] ?? 3);
  const cluster = await RedisCluster.start({ masters, nodeTimeoutMs: NODE_TIMEOUT_MS });
  let stopping = false;
  /** Kills every redis-server and waits (≤ 3 s) until they are gone and reaped, so not even a zombie is left. */
  const stopAndWait = async () => {
    stopping = true;
    await Promise.race([cluster.close(), new Promise((resolve) => setTimeout(resolve, 3_000))]);
  };
  process.on('exit', () => cluster.killNow()); // last resort (e.g. the orchestrator vanished): kill without waiting
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => void stopAndWait().finally(() => process.exit(0)));
  }
  const pids: number[] = [];
  for (let i = 0; i < cluster.size; i++) {
    const child = cluster.childOf(i)!;
    pids.push(child.pid!);
    child.on('exit', (code, signal) => {
      if (stopping) return;
      console.error(`redis-server of master ${i} exited unexpectedly (code ${code}, signal ${signal})\n${cluster.logOf(i).slice(-3000)}`);
      process.exit(1);
    });
  }
  // One plain connection per master: INFO is per node, and these never take part in the cluster traffic.
  const clients = cluster.nodes.map(
    (node) => new Redis(node.port, node.host, { lazyConnect: true, maxRetriesPerRequest: 1 }),
  );
  await Promise.all(clients.map((client) => client.connect()));
  serve({
    cpu: async (): Promise<MasterCpu[]> =>
      Promise.all(
        clients.map(async (client, index) => {
          const info = await client.info('cpu');
          const field = (name: string) => Number(new RegExp(`^${name}:([0-9.]+)`, 'm').exec(info)?.[1] ?? NaN);
          return { index, port: cluster.nodes[index].port, pid: pids[index], userS: field('used_cpu_user'), sysS: field('used_cpu_sys') };
        }),
      ),
    stop: async () => {
      for (const client of clients) client.disconnect();
      await stopAndWait();
      return null;
    },
  });
  emit('ready', { nodes: cluster.nodes, startupNodes: cluster.startupNodes, pids });
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

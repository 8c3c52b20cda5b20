/**
 * Smoke check of the bench's Redis Cluster harness (`Session.startRedisCluster`): starts a 3-master cluster
 * through its keeper, sends a deliberately uneven sharded load (SPUBLISH to a subscribed channel of each master:
 * 3 parts to master 0, 1 part to master 1, none to master 2), and prints what each master's CPU counter says
 * about it. Exits 1 unless the per-master figures rank the masters as the load did.
 *
 *   npx tsc -p bench/tsconfig.json && node dist-bench/bench/lib/redis-cluster-smoke.js [messages]
 */
import { Cluster } from 'ioredis';
import { keySlot } from '../../test/support/redis-cluster';
import { pool } from './common';
import { Session, type MasterCpu } from './session';

async function main(): Promise<void> {
  const messages = Number(process.argv[2] ?? 40_000);
  const session = new Session(false);
  const t0 = Date.now();
  try {
    const redis = await session.startRedisCluster(3);
    console.log(`cluster up in ${Date.now() - t0} ms: ${redis.startupNodes.join(' ')}`);
    const pub = new Cluster(redis.nodes, { enableAutoPipelining: true });
    const sub = new Cluster(redis.nodes, { shardedSubscribers: true });
    // A channel per master, found from the slot map.
    const slots = (await pub.cluster('SLOTS')) as unknown as [number, number, [string, number]][];
    const masterOf = (name: string) => {
      const slot = keySlot(name);
      const port = slots.find(([from, to]) => slot >= from && slot <= to)![2][1];
      return redis.nodes.findIndex((node) => node.port === port);
    };
    const channels = redis.nodes.map((_, master) => {
      for (let i = 0; ; i++) if (masterOf(`smoke-${i}`) === master) return `smoke-${i}`;
    });
    for (const channel of channels) await sub.ssubscribe(channel);
    let received = 0;
    sub.on('smessageBuffer', () => received++);
    const plan = [Math.round((messages * 3) / 4), Math.round(messages / 4), 0];
    const jobs = plan.flatMap((count, master) => Array.from({ length: count }, () => channels[master]));

    const before = await redis.cpu();
    const payload = 'x'.repeat(100);
    await pool(jobs, 256, (channel) => pub.spublish(channel, payload));
    const deadline = Date.now() + 30_000;
    while (received < jobs.length && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    const after = await redis.cpu();
    pub.disconnect();
    sub.disconnect();

    const spent = (a: MasterCpu, b: MasterCpu) => (b.userS + b.sysS - (a.userS + a.sysS)) * 1000;
    const ms = after.map((cpu, i) => spent(before[i], cpu));
    for (const [i, cpu] of after.entries()) {
      console.log(
        `master ${i} (port ${cpu.port}, pid ${cpu.pid}): ${plan[i]} SPUBLISH -> ${ms[i].toFixed(0)} ms CPU ` +
          `(user ${cpu.userS.toFixed(2)} s, sys ${cpu.sysS.toFixed(2)} s since start)`,
      );
    }
    console.log(`received ${received} of ${jobs.length}`);
    if (received !== jobs.length) throw new Error('messages were lost');
    if (!(ms[0] > ms[1] && ms[1] > ms[2])) throw new Error('the per-master CPU figures do not follow the load');
  } finally {
    await session.close();
  }
}

void main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);

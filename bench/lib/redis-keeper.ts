/**
 * Runs the bench's own `redis-server` (never the machine's one on 6379) on a free port, without persistence,
 * and kills it when told to stop, on SIGTERM, or as soon as the orchestrator goes away (IPC disconnect), so no
 * redis-server outlives a run. Also answers `cpu`: redis-server's own CPU seconds (INFO cpu).
 */
import Redis from 'ioredis';
import { RedisServer } from '../../test/support/redis-server';
import { emit, guardChild, serve } from './ipc';

guardChild();

async function main(): Promise<void> {
  const redis = await RedisServer.start();
  const { port } = redis;
  let stopping = false;
  /** Kills redis-server and waits (≤ 3 s) until it is gone and reaped, so not even a zombie is left. */
  const stopAndWait = async () => {
    stopping = true;
    await Promise.race([redis.close(), new Promise((resolve) => setTimeout(resolve, 3_000))]);
  };
  process.on('exit', () => redis.killNow()); // last resort (e.g. the orchestrator vanished): kill without waiting
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => void stopAndWait().finally(() => process.exit(0)));
  }
  const child = redis.child!;
  child.on('exit', (code, signal) => {
    if (!stopping) {
      console.error(`redis-server exited unexpectedly (code ${code}, signal ${signal})`);
      process.exit(1);
    }
  });
  child.stderr?.on('data', (chunk: Buffer) => process.stderr.write(chunk));
  const client = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 1 });
  await client.connect();
  serve({
    cpu: async () => {
      const info = await client.info('cpu');
      const field = (name: string) => Number(new RegExp(`^${name}:([0-9.]+)`, 'm').exec(info)?.[1] ?? NaN);
      return { userS: field('used_cpu_user'), sysS: field('used_cpu_sys') };
    },
    stop: async () => {
      client.disconnect();
      await stopAndWait();
      return null;
    },
  });
  emit('ready', { port, pid: child.pid, url: `redis://127.0.0.1:${port}` });
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

/**
 * Runs the bench's own `redis-server` (never the machine's one on 6379) on a free port, without persistence,
 * and kills it when told to stop, on SIGTERM, or as soon as the orchestrator goes away (IPC disconnect), so no
 * redis-server outlives a run. Also answers `cpu`: redis-server's own CPU seconds (INFO cpu).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { emit, guardChild, serve } from './ipc';

guardChild();

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

async function main(): Promise<void> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'bench-redis-'));
  const binary = process.env.REDIS_SERVER ?? 'redis-server';
  const child = spawn(
    binary,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--protected-mode', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stopping = false;
  const stop = () => {
    stopping = true;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  /** Kills redis-server and waits (≤ 3 s) until it is gone and reaped, so not even a zombie is left. */
  const stopAndWait = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return stop();
    const exited = new Promise((resolve) => child.once('exit', resolve));
    stop();
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 3_000))]);
  };
  process.on('exit', stop); // last resort (e.g. the orchestrator vanished): kill without waiting
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => void stopAndWait().finally(() => process.exit(0)));
  }
  child.on('exit', (code, signal) => {
    if (!stopping) {
      console.error(`redis-server exited unexpectedly (code ${code}, signal ${signal})`);
      process.exit(1);
    }
  });
  child.on('error', (error) => {
    console.error(`cannot start ${binary}: ${error.message}`);
    process.exit(1);
  });
  child.stderr?.on('data', (chunk: Buffer) => process.stderr.write(chunk));
  await new Promise<void>((resolve) => {
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      if (output.length < 64 * 1024) output += chunk.toString();
      if (output.includes('Ready to accept connections')) resolve();
    });
  });
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

/**
 * `npm run soak -- --minutes=N`: the churn soak of issue 7 on both engines, one after the other (the memory engine
 * on one node, then two gateway nodes plus a push-only node on Redis), N minutes in all, split evenly. Prints a
 * summary per engine and exits 1 when any assertion failed (2 on bad arguments). Not part of `npm test`, which
 * runs a 20-second version (test/soak.e2e-spec.ts).
 *
 * Options: --minutes=N (default 10) or --seconds=S · --engines=memory,redis · --heartbeat=INTERVAL_MS/TIMEOUT_MS ·
 * --rss-warmup-s=S (RSS samples ignored before S seconds of load; default 120 for runs of 4 minutes or more per engine, else 10) ·
 * --root=DIR (run DIR/dist/src/main.js, e.g. another checkout, instead of this repository's) · --json=FILE (every
 * report, raw RSS samples included) · --verbose
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from '../bench/lib/common';
import { formatReport } from './report.table';
import { runSoak } from './run-soak';
import { soakOptions, type SoakEngine } from './soak.options';
import type { SoakReport } from './soak.report';

const ENGINES: SoakEngine[] = ['memory', 'redis'];

async function main(): Promise<number> {
  let args: Record<string, string>;
  try {
    args = parseArgs(process.argv.slice(2));
    for (const key of Object.keys(args)) {
      if (!['minutes', 'seconds', 'engines', 'heartbeat', 'rss-warmup-s', 'root', 'json', 'verbose'].includes(key)) {
        throw new Error(`unknown option --${key}`);
      }
    }
  } catch (error) {
    console.error(`soak: ${(error as Error).message}`);
    return 2;
  }
  const totalMs = args.seconds !== undefined ? Number(args.seconds) * 1000 : Number(args.minutes ?? 10) * 60_000;
  const engines = (args.engines ?? ENGINES.join(',')).split(',').map((e) => e.trim()) as SoakEngine[];
  if (!Number.isFinite(totalMs) || totalMs < 2_000 || engines.some((e) => !ENGINES.includes(e))) {
    console.error('soak: expected --minutes=N or --seconds=S (≥ 2 s in all) and --engines=memory,redis');
    return 2;
  }
  const heartbeat = /^(\d+)\/(\d+)$/.exec(args.heartbeat ?? '');
  if (args.heartbeat !== undefined && !heartbeat) {
    console.error('soak: expected --heartbeat=INTERVAL_MS/TIMEOUT_MS');
    return 2;
  }
  const rssWarmupS = args['rss-warmup-s'] === undefined ? undefined : Number(args['rss-warmup-s']);
  if (rssWarmupS !== undefined && !(rssWarmupS >= 0)) {
    console.error('soak: expected --rss-warmup-s=SECONDS');
    return 2;
  }
  const perEngineMs = Math.round(totalMs / engines.length);
  const log = (line: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
  log(`soak: ${engines.join(' then ')}, ${(perEngineMs / 1000).toFixed(0)} s of load each`);
  const reports: SoakReport[] = [];
  for (const engine of engines) {
    const report = await runSoak(
      soakOptions(engine, perEngineMs, {
        log,
        verbose: args.verbose === 'true',
        root: args.root,
        ...(heartbeat ? { heartbeatIntervalMs: Number(heartbeat[1]), heartbeatTimeoutMs: Number(heartbeat[2]) } : {}),
        ...(rssWarmupS !== undefined ? { rssWarmupMs: rssWarmupS * 1000 } : {}),
      }),
    );
    reports.push(report);
    console.log(`\n${formatReport(report)}\n`);
    // Written after each engine, so an interrupted run keeps what it measured.
    if (args.json) writeFileSync(args.json, JSON.stringify(reports, null, 1));
  }
  const failed = reports.filter((r) => r.failures.length);
  console.log(
    failed.length
      ? `soak: FAILED on ${failed.map((r) => r.engine).join(' and ')}`
      : `soak: passed on ${reports.map((r) => r.engine).join(' and ')}`,
  );
  return failed.length ? 1 : 0;
}

// Interrupted: exit through process.exit, so the exit hooks reap the servers, workers and redis-server.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    console.error(`\nsoak: ${signal}, stopping every child process`);
    process.exit(130);
  });
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);

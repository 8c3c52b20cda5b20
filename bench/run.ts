/**
 * The bench orchestrator: `npm run bench` (full) / `npm run bench:quick` (smoke). See bench/README.md.
 *
 *   node dist-bench/bench/run.js [--quick]
 *        [--only=memory,broadcast,burst,http,cluster,recovery,memory-resume,resume-storm] [--servers=ours,ws,socketio]
 *        [--n=9000] [--repeats=3] [--sends=20] [--bytes=100] [--rates=500,1000,2000,4000] [--step-seconds=3]
 *        [--bisect=3] [--http-platforms=express,fastify[,fastify-fix]] [--cluster-masters=3] [--cluster-groups=16]
 *        [--storm-groups=20] [--storm-rate=100] [--storm-group-share=0.3] [--storm-backoff-ms=1000] [--storm-profile=DIR]
 *        [--results=bench/results/results.jsonl] [--budget-min=40] [--ours-options='{"fanoutChunk":1024}'] [--verbose]
 *
 * Every server, load generator and sender is a child process of this one; all are killed when it exits, fails,
 * is interrupted or passes its time budget.
 */
import { mkdirSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { median, parseArgs } from './lib/common';
import { backgroundLoad } from './lib/cpu';
import { killAllChildren } from './lib/ipc';
import {
  appendResult,
  compare,
  DEFAULT_RESULTS,
  fmt,
  gitInfo,
  machineInfo,
  renderTable,
  type MetricSpec,
  type RunsByKind,
} from './lib/report';
import {
  APP_PLATFORMS,
  appKind,
  HTTP_KIND_LABEL,
  KIND_LABEL,
  SERVER_KINDS,
  type AppPlatform,
  type BenchConfig,
  type HttpKind,
  type Kind,
} from './scenarios/config';
import {
  CLUSTER_BACKENDS,
  CLUSTER_VARIANTS,
  runCluster,
  type ClusterBackend,
  type ClusterFigures,
  type ClusterVariant,
} from './scenarios/cluster';
import { runFanout, type FanoutFigures } from './scenarios/fanout';
import { runHttp, type HttpFigures } from './scenarios/http';
import { runRecovery, type RecoveryFigures } from './scenarios/recovery';
import { runStorm, type StormFigures } from './scenarios/storm';

const SCENARIOS = ['memory', 'broadcast', 'burst', 'http', 'cluster', 'recovery', 'memory-resume', 'resume-storm'] as const;
type Scenario = (typeof SCENARIOS)[number];

function configFrom(args: Record<string, string>): BenchConfig {
  const quick = args.quick === 'true';
  const config: BenchConfig = quick
    ? {
        mode: 'quick',
        n: 2_000,
        repeats: 1,
        sends: 20,
        bytes: 100,
        httpRates: [500, 1000, 2000, 4000, 8000],
        httpBisect: 2,
        httpPlatforms: ['express', 'fastify'],
        stepSeconds: 2,
        p99LimitMs: 100,
        headlineRate: 1000,
        clusterMasters: 3,
        clusterGroups: 16,
        stormGroups: 20,
        stormRate: 100,
        stormGroupShare: 0.3,
        stormBackoffMs: 1000,
        stormProfileDir: null,
        oursOptions: null,
        verbose: false,
      }
    : {
        mode: 'full',
        n: 9_000,
        repeats: 3,
        sends: 20,
        bytes: 100,
        httpRates: [500, 1000, 2000, 4000, 8000, 16000, 32000],
        httpBisect: 3,
        httpPlatforms: ['express', 'fastify'],
        stepSeconds: 3,
        p99LimitMs: 100,
        headlineRate: 1000,
        clusterMasters: 3,
        clusterGroups: 16,
        stormGroups: 20,
        stormRate: 100,
        stormGroupShare: 0.3,
        stormBackoffMs: 1000,
        stormProfileDir: null,
        oursOptions: null,
        verbose: false,
      };
  const num = (key: string, fallback: number) => {
    if (args[key] === undefined) return fallback;
    const value = Number(args[key]);
    if (!Number.isFinite(value) || value <= 0) throw new Error(`--${key} must be a positive number`);
    return value;
  };
  config.n = Math.round(num('n', config.n));
  config.repeats = Math.round(num('repeats', config.repeats));
  config.sends = Math.round(num('sends', config.sends));
  config.bytes = Math.round(num('bytes', config.bytes));
  config.stepSeconds = num('step-seconds', config.stepSeconds);
  config.clusterMasters = Math.round(num('cluster-masters', config.clusterMasters));
  if (config.clusterMasters < 3) throw new Error('--cluster-masters must be at least 3 (redis-cli --cluster create needs 3)');
  config.clusterGroups = Math.round(num('cluster-groups', config.clusterGroups));
  config.p99LimitMs = num('p99-limit-ms', config.p99LimitMs);
  config.stormGroups = Math.round(num('storm-groups', config.stormGroups));
  config.stormRate = num('storm-rate', config.stormRate);
  config.stormGroupShare = num('storm-group-share', config.stormGroupShare);
  if (config.stormGroupShare > 1) throw new Error('--storm-group-share is a share (0 < share ≤ 1)');
  config.stormBackoffMs = num('storm-backoff-ms', config.stormBackoffMs);
  if (args['storm-profile']) {
    config.stormProfileDir = resolvePath(args['storm-profile']);
    mkdirSync(config.stormProfileDir, { recursive: true });
  }
  if (args.rates) config.httpRates = args.rates.split(',').map(Number);
  if (config.httpRates.some((r) => !(r > 0))) throw new Error('--rates must be positive numbers');
  if (args.bisect !== undefined) {
    config.httpBisect = Number(args.bisect);
    if (!Number.isSafeInteger(config.httpBisect) || config.httpBisect < 0) throw new Error('--bisect must be a whole number');
  }
  if (args['http-platforms']) {
    config.httpPlatforms = args['http-platforms'].split(',') as AppPlatform[];
    for (const p of config.httpPlatforms) {
      if (!APP_PLATFORMS.includes(p)) throw new Error(`unknown HTTP platform "${p}" (one of ${APP_PLATFORMS.join(', ')})`);
    }
  }
  config.headlineRate = num('headline-rate', config.httpRates.includes(1000) ? 1000 : config.httpRates[0]);
  config.verbose = args.verbose === 'true';
  if (args['ours-options']) {
    JSON.parse(args['ours-options']); // fail now on bad JSON, not in a child
    config.oursOptions = args['ours-options'];
  }
  return config;
}

function section(title: string): void {
  console.log(`\n=== ${title} ===`);
}

/** A warning for a session during which other processes used the CPU. */
function contamination(foreignCores: number): string {
  return foreignCores > 0.15 ? ` [WARNING: other processes used ${foreignCores.toFixed(2)} cores meanwhile: skewed]` : '';
}

function errorText(error: unknown): string {
  return (error as Error)?.stack ?? String(error);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const config = configFrom(args);
  const only = new Set<Scenario>((args.only ? args.only.split(',') : SCENARIOS) as Scenario[]);
  for (const s of only) if (!SCENARIOS.includes(s)) throw new Error(`unknown scenario "${s}" (one of ${SCENARIOS.join(', ')})`);
  const kinds = (args.servers ? args.servers.split(',') : [...SERVER_KINDS]) as Kind[];
  for (const k of kinds) if (!SERVER_KINDS.includes(k)) throw new Error(`unknown server "${k}" (one of ${SERVER_KINDS.join(', ')})`);
  if (!kinds.includes('ours')) throw new Error('--servers must include ours');
  const resultsPath = args.results ?? DEFAULT_RESULTS;
  const budgetMin = Number(args['budget-min'] ?? (config.mode === 'quick' ? 10 : 40));

  const started = Date.now();
  const watchdog = setTimeout(() => {
    console.error(`\nbench: time budget of ${budgetMin} min exceeded, killing every child process`);
    killAllChildren();
    process.exit(2);
  }, budgetMin * 60_000);
  watchdog.unref();

  const machine = machineInfo();
  const git = gitInfo();
  const date = new Date().toISOString();
  const runId = `${date}-${config.mode}`;
  const idleLoad = await backgroundLoad();
  const base = {
    run_id: runId,
    date,
    mode: config.mode,
    machine: { ...machine, backgroundLoadCores: idleLoad },
    git,
    ...(config.oursOptions ? { oursOptions: JSON.parse(config.oursOptions) as unknown } : {}),
  };
  console.log(`bench ${config.mode}: ${config.n} clients, ${config.repeats} repeat(s), servers ${kinds.join(', ')}`);
  console.log(
    `machine: ${machine.cpuModel}, ${machine.cores} cores, ${machine.totalMemGiB} GiB, node ${machine.node}, ` +
      `fd limit ${machine.fdLimit}; commit ${git.commit}${git.dirty.length ? ` + ${git.dirty.length} changed file(s) in libs/src` : ''}`,
  );
  if (config.oursOptions) console.log(`our module's extra options: ${config.oursOptions}`);
  console.log(`results: ${resultsPath}`);
  console.log(`background CPU load before the run: ${idleLoad.toFixed(2)} of ${machine.cores} cores`);
  if (idleLoad > 0.15) {
    console.log(
      `WARNING: other processes are using ${idleLoad.toFixed(2)} cores (see \`ps aux --sort=-%cpu\`): ` +
        'the figures below are skewed; rerun on a quiet machine',
    );
  }
  console.log('ratio columns: how many times better ours is (>1 = ours better; for costs and latencies: reference ÷ ours)');

  let failures = 0;
  const repLabel = (rep: number) => `rep ${rep + 1}/${config.repeats}`;

  // ---- fan-out: memory, broadcast, burst (one session per server and repeat) ----------------------------------
  const fanoutRuns: Partial<Record<Kind, FanoutFigures[]>> = {};
  /** The same, by repeat (a failed session leaves a hole), for the memory-resume scenario. */
  const fanoutByRep: Partial<Record<Kind, (FanoutFigures | undefined)[]>> = {};
  const fanoutErrors: { kind: Kind; rep: number; error: string }[] = [];
  const which = { memory: only.has('memory'), broadcast: only.has('broadcast'), burst: only.has('burst') };
  if (which.memory || which.broadcast || which.burst) {
    section(`fan-out sessions (${[...only].filter((s) => s in which).join(', ')})`);
    for (let rep = 0; rep < config.repeats; rep++) {
      for (const kind of kinds) {
        const t = Date.now();
        try {
          const figures = await runFanout(config, kind, which);
          (fanoutRuns[kind] ??= []).push(figures);
          (fanoutByRep[kind] ??= [])[rep] = figures;
          const parts: string[] = [];
          if (figures.memory) parts.push(`RSS ${fmt.fixed(2)(figures.memory.rssPerConnKiB)} KiB/conn`);
          if (figures.broadcast) {
            parts.push(`broadcast p50 ${fmt.fixed(1)(figures.broadcast.p50Ms)} p99 ${fmt.fixed(1)(figures.broadcast.p99Ms)} ms, stall ${fmt.fixed(1)(figures.broadcast.maxStallMs)} ms`);
          }
          if (figures.burst) {
            parts.push(`burst ${fmt.int(figures.burst.deliveriesPerSec)}/s, ${fmt.fixed(2)(figures.burst.cpuUsPerDelivery)} µs CPU/delivery`);
          }
          console.log(
            `${repLabel(rep)} ${KIND_LABEL[kind].padEnd(9)} ${parts.join('; ')} (${((Date.now() - t) / 1000).toFixed(1)} s)` +
              contamination(figures.foreignCores),
          );
        } catch (error) {
          failures++;
          fanoutErrors.push({ kind, rep, error: errorText(error) });
          console.log(`${repLabel(rep)} ${KIND_LABEL[kind].padEnd(9)} FAILED: ${errorText(error)}`);
        }
      }
    }
    const report = (scenario: Scenario, title: string, params: Record<string, unknown>, specs: MetricSpec[], pick: (f: FanoutFigures) => Record<string, number> | undefined, note?: string) => {
      const runs: RunsByKind<Kind> = {};
      const raw: Partial<Record<Kind, unknown[]>> = {};
      for (const kind of kinds) {
        const list = (fanoutRuns[kind] ?? [])
          .map((f): Record<string, number> | undefined => {
            const picked = pick(f);
            return picked && { ...picked, foreignCores: f.foreignCores };
          })
          .filter((x): x is Record<string, number> => x !== undefined);
        runs[kind] = list;
        raw[kind] = list;
      }
      const result = compare(specs, runs, kinds, KIND_LABEL, 'ours');
      section(`${title}${config.repeats > 1 ? ` (median of ${config.repeats})` : ''}`);
      console.log(result.table);
      if (note) console.log(note);
      appendResult(resultsPath, {
        ...base,
        scenario,
        title,
        params,
        repeats: config.repeats,
        servers: Object.fromEntries(kinds.map((k) => [k, { median: result.medians[k], runs: raw[k] }])),
        ratios: result.ratios,
        errors: fanoutErrors,
      });
    };
    if (which.memory) {
      report(
        'memory',
        `idle memory: ${config.n} clients connected, bound to a uid and in two groups`,
        { n: config.n, groupsPerClient: 2 },
        [
          { key: 'rssPerConnKiB', label: 'server RSS per connection (KiB)', better: 'lower', format: fmt.fixed(2) },
          { key: 'heapPerConnKiB', label: 'server heap used per connection (KiB)', better: 'lower', format: fmt.fixed(2) },
        ],
        (f) => f.memory && { rssPerConnKiB: f.memory.rssPerConnKiB, heapPerConnKiB: f.memory.heapPerConnKiB, externalPerConnKiB: f.memory.externalPerConnKiB },
      );
    }
    if (which.broadcast) {
      report(
        'broadcast',
        `single broadcast: one ~${config.bytes} B message to ${config.n} clients`,
        { n: config.n, bytes: config.bytes },
        [
          { key: 'p50Ms', label: 'delivery latency p50 (ms)', better: 'lower', format: fmt.fixed(1) },
          { key: 'p99Ms', label: 'delivery latency p99 (ms)', better: 'lower', format: fmt.fixed(1) },
          { key: 'maxStallMs', label: 'longest server event-loop stall (ms)', better: 'lower', format: fmt.fixed(1) },
          { key: 'cpuUsPerDelivery', label: 'server CPU µs per delivery', better: 'lower', format: fmt.fixed(2) },
        ],
        (f) => f.broadcast && { ...f.broadcast },
      );
    }
    if (which.burst) {
      const share = kinds
        .map((k) => `${KIND_LABEL[k]} ${fmt.fixed(2)(median((fanoutRuns[k] ?? []).flatMap((f) => f.burst?.loadgenCoreShare ?? [])))}`)
        .join(', ');
      report(
        'burst',
        `burst fan-out: ${config.n} clients in one group, ${config.sends} group sends of ~${config.bytes} B back to back`,
        { n: config.n, sends: config.sends, bytes: config.bytes },
        [
          { key: 'deliveriesPerSec', label: 'deliveries/s (until the last arrived)', better: 'higher', format: fmt.int },
          { key: 'cpuUsPerDelivery', label: 'server CPU µs per delivery', better: 'lower', format: fmt.fixed(3) },
        ],
        (f) => f.burst && { deliveriesPerSec: f.burst.deliveriesPerSec, cpuUsPerDelivery: f.burst.cpuUsPerDelivery, durationMs: f.burst.durationMs, issuedMs: f.burst.issuedMs },
        `load generators' core use while receiving (median; near 1.00 = the clients, not the server, set the pace): ${share}`,
      );
    }
  }

  // ---- HTTP push ------------------------------------------------------------------------------------------------
  if (only.has('http')) {
    section(
      `HTTP push sessions: POST /send to single uids, ${config.httpRates.join(' → ')} req/s, ${config.stepSeconds} s each` +
        (config.httpBisect ? `, then ${config.httpBisect} bisection step(s)` : ''),
    );
    // Our example app once per HTTP platform, then the references.
    const httpKinds: HttpKind[] = [
      ...config.httpPlatforms.map(appKind),
      ...kinds.filter((k): k is Exclude<Kind, 'ours'> => k !== 'ours'),
    ];
    const httpRuns: Partial<Record<HttpKind, HttpFigures[]>> = {};
    const errors: { kind: HttpKind; rep: number; error: string }[] = [];
    for (let rep = 0; rep < config.repeats; rep++) {
      for (const kind of httpKinds) {
        const t = Date.now();
        try {
          const figures = await runHttp(config, kind);
          (httpRuns[kind] ??= []).push(figures);
          const steps = figures.steps
            .map((s) => `${s.rate}/s ${s.held ? 'held' : `NOT held (${s.reason})`} p50 ${fmt.fixed(1)(s.p50Ms)} p99 ${fmt.fixed(1)(s.p99Ms)} ms, ${fmt.fixed(0)(s.cpuUsPerRequest)} µs CPU/req (sender ${fmt.fixed(0)(s.senderCpuUsPerRequest)})`)
            .join('; ');
          console.log(
            `${repLabel(rep)} ${HTTP_KIND_LABEL[kind].padEnd(13)} max held ${fmt.int(figures.maxHeldRate)} req/s — ${steps} ` +
              `(${((Date.now() - t) / 1000).toFixed(1)} s)${contamination(figures.foreignCores)}`,
          );
        } catch (error) {
          failures++;
          errors.push({ kind, rep, error: errorText(error) });
          console.log(`${repLabel(rep)} ${HTTP_KIND_LABEL[kind].padEnd(13)} FAILED: ${errorText(error)}`);
        }
      }
    }
    const runs: RunsByKind<HttpKind> = {};
    for (const kind of httpKinds) runs[kind] = (httpRuns[kind] ?? []).map((f) => f.headline);
    // Each of our apps against each reference, and Fastify against Express.
    const isRef = (k: HttpKind) => k === 'ws' || k === 'socketio';
    const refs = httpKinds.filter(isRef);
    const ours = httpKinds.filter((k) => !isRef(k));
    const pairs: [HttpKind, HttpKind][] = [
      ...refs.flatMap((ref) => ours.map((o): [HttpKind, HttpKind] => [o, ref])),
      ...(ours.includes('ours') && ours.includes('ours-fastify') ? [['ours-fastify', 'ours'] as [HttpKind, HttpKind]] : []),
    ];
    const result = compare(
      [
        { key: 'p50Ms', label: `POST→delivery p50 @${config.headlineRate}/s (ms)`, better: 'lower', format: fmt.fixed(2) },
        { key: 'p99Ms', label: `POST→delivery p99 @${config.headlineRate}/s (ms)`, better: 'lower', format: fmt.fixed(2) },
        { key: 'cpuUsPerRequest', label: `server CPU µs per request @${config.headlineRate}/s`, better: 'lower', format: fmt.fixed(1) },
        { key: 'cpuUsPerRequestAtMax', label: 'server CPU µs per request @highest held', better: 'lower', format: fmt.fixed(1) },
        { key: 'maxHeldRate', label: 'highest rate held (req/s)', better: 'higher', format: fmt.int },
      ],
      runs,
      httpKinds,
      { ours: 'Express app', 'ours-fastify': 'Fastify app', 'ours-fastify-fix': 'Fastify+fix', ws: 'http+ws', socketio: 'socket.io' },
      ours[0] ?? httpKinds[0],
      pairs,
    );
    const title = `HTTP push: ${config.n} idle bound clients, POST /send {uid} at fixed rates`;
    section(`${title}${config.repeats > 1 ? ` (median of ${config.repeats})` : ''}`);
    console.log(result.table);
    console.log(
      `a rate is held with no error, ≥95% of it answered in time, every message delivered, and p99 ≤ ${config.p99LimitMs} ms; ` +
        `the top step (${Math.max(...config.httpRates)}) may be the sender's limit, not the server's. ` +
        'Ratio columns: how many times better the first is (for CPU and latency: second ÷ first)',
    );
    appendResult(resultsPath, {
      ...base,
      scenario: 'http',
      title,
      params: {
        n: config.n,
        rates: config.httpRates,
        bisect: config.httpBisect,
        platforms: config.httpPlatforms,
        stepSeconds: config.stepSeconds,
        p99LimitMs: config.p99LimitMs,
        headlineRate: config.headlineRate,
        bytes: config.bytes,
      },
      repeats: config.repeats,
      servers: Object.fromEntries(httpKinds.map((k) => [k, { median: result.medians[k], runs: httpRuns[k] ?? [] }])),
      ratios: result.ratios,
      errors,
    });
  }

  // ---- cluster --------------------------------------------------------------------------------------------------
  if (only.has('cluster')) {
    const G = config.clusterGroups;
    section(
      `cluster sessions: burst over 2 gateway nodes + 1 push-only node, on one redis-server and on a ` +
        `${config.clusterMasters}-master Redis Cluster; sends to "all", then spread over ${G} groups`,
    );
    const runs: ClusterFigures[] = [];
    const errors: { rep: number; error: string }[] = [];
    for (let rep = 0; rep < config.repeats; rep++) {
      const t = Date.now();
      try {
        // The single-node figure of the same repeat, from the burst session if it ran.
        const single = fanoutRuns.ours?.[rep]?.burst ?? (await runFanout(config, 'ours', { memory: false, broadcast: false, burst: true })).burst!;
        const figures = await runCluster(config, single);
        runs.push(figures);
        const line = (b: ClusterBackend, v: ClusterVariant) => {
          const f = figures[b][v];
          return `${fmt.int(f.deliveriesPerSec)}/s ${fmt.fixed(2)(f.cpuUsPerDelivery)} µs`;
        };
        console.log(
          `${repLabel(rep)} cluster   one redis: all ${line('redis', 'all')}, spread ${line('redis', 'spread')}; ` +
            `Redis Cluster: all ${line('redisCluster', 'all')}, spread ${line('redisCluster', 'spread')} ` +
            `(node CPU/delivery; single node ${fmt.int(single.deliveriesPerSec)}/s) (${((Date.now() - t) / 1000).toFixed(1)} s)` +
            contamination(figures.foreignCores),
        );
      } catch (error) {
        failures++;
        errors.push({ rep, error: errorText(error) });
        console.log(`${repLabel(rep)} cluster   FAILED: ${errorText(error)}`);
      }
    }
    const columns = CLUSTER_BACKENDS.flatMap((b) => CLUSTER_VARIANTS.map((v) => [b, v] as const)).sort((x, y) =>
      x[1] === y[1] ? 0 : x[1] === 'all' ? -1 : 1,
    );
    const key = (b: ClusterBackend, v: ClusterVariant) => `${b}:${v}`;
    const label = (b: ClusterBackend, v: ClusterVariant) =>
      `${b === 'redis' ? 'one redis' : 'Redis Cluster'}: ${v === 'all' ? '"all"' : `${G} groups`}`;
    type Pick = (f: ClusterFigures, b: ClusterBackend, v: ClusterVariant) => number;
    const masters = config.clusterMasters;
    const rowSpecs: { key: string; label: string; pick: Pick; format: (v: number) => string }[] = [
      { key: 'groupSends', label: 'group sends issued', pick: (f, b, v) => f[b][v].groupSends, format: fmt.int },
      { key: 'deliveriesPerSec', label: 'deliveries/s (until the last arrived)', pick: (f, b, v) => f[b][v].deliveriesPerSec, format: fmt.int },
      {
        key: 'overSingle',
        label: 'deliveries/s ÷ single-node burst (same repeat)',
        pick: (f, b, v) => f[b][v].deliveriesPerSec / f.single.deliveriesPerSec,
        format: fmt.ratio,
      },
      {
        key: 'overOneRedis',
        label: 'deliveries/s ÷ one redis (same repeat, same sends)',
        pick: (f, b, v) => f[b][v].deliveriesPerSec / f.redis[v].deliveriesPerSec,
        format: fmt.ratio,
      },
      { key: 'cpuUsPerDelivery', label: 'node CPU µs per delivery (3 nodes)', pick: (f, b, v) => f[b][v].cpuUsPerDelivery, format: fmt.fixed(3) },
      { key: 'redisCpuUsPerDelivery', label: 'Redis CPU µs per delivery (all servers)', pick: (f, b, v) => f[b][v].redisCpuUsPerDelivery, format: fmt.fixed(4) },
      ...Array.from({ length: masters }, (_, i) => ({
        key: `master${i}CpuUsPerDelivery`,
        label: `  master ${i} CPU µs per delivery`,
        pick: ((f, b, v) => (b === 'redisCluster' ? f[b][v].shardCpuUsPerDelivery[i] : NaN)) as Pick,
        format: fmt.fixed(4),
      })),
      ...Array.from({ length: masters }, (_, i) => ({
        key: `master${i}Share`,
        label: `  master ${i} share of Redis CPU`,
        pick: ((f, b, v) => (b === 'redisCluster' ? f[b][v].shardShare[i] : NaN)) as Pick,
        format: (x: number) => (Number.isFinite(x) ? `${(x * 100).toFixed(0)} %` : '—'),
      })),
    ];
    const medians: Record<string, Record<string, number>> = {};
    for (const [b, v] of columns) {
      medians[key(b, v)] = Object.fromEntries(rowSpecs.map((r) => [r.key, median(runs.map((f) => r.pick(f, b, v)))]));
    }
    const singleMedian = {
      deliveriesPerSec: median(runs.map((f) => f.single.deliveriesPerSec)),
      cpuUsPerDelivery: median(runs.map((f) => f.single.cpuUsPerDelivery)),
    };
    const title =
      `cluster burst: ${config.n} clients over 2 gateway nodes (Redis engine), ${config.sends} rounds of sends from a ` +
      `push-only node, on one redis-server and on a ${masters}-master Redis Cluster`;
    section(`${title}${config.repeats > 1 ? ` (median of ${config.repeats})` : ''}`);
    console.log(
      renderTable(
        ['metric', ...columns.map(([b, v]) => label(b, v))],
        rowSpecs.map((r) => [r.label, ...columns.map(([b, v]) => r.format(medians[key(b, v)][r.key]))]),
      ),
    );
    console.log(
      `single node (memory engine) burst of the same repeats: ${fmt.int(singleMedian.deliveriesPerSec)}/s, ` +
        `${fmt.fixed(3)(singleMedian.cpuUsPerDelivery)} µs server CPU per delivery.\n` +
        `"all": ${config.sends} sends to group "all" (every client; its channel is in ONE slot, so one shard). ` +
        `"${G} groups": the clients split over spread-0…${G - 1} (uid number mod ${G}), ${config.sends} rounds of one send ` +
        `to each (${config.sends * G} group sends, each to ~${Math.round(config.n / G)} clients): the same ` +
        `${fmt.int(config.n * config.sends)} deliveries. Ratios are medians of the per-repeat ratios.`,
    );
    appendResult(resultsPath, {
      ...base,
      scenario: 'cluster',
      title,
      params: {
        n: config.n,
        sends: config.sends,
        bytes: config.bytes,
        gatewayNodes: 2,
        pushOnlyNodes: 1,
        backends: { redis: 'one redis-server', redisCluster: `${masters} masters, no replicas, sharded pub/sub` },
        variants: { all: `${config.sends} sends to "all"`, spread: `${config.sends} rounds over ${G} groups (${config.sends * G} sends)` },
        clusterGroups: G,
        clusterMasters: masters,
      },
      repeats: config.repeats,
      servers: {
        ...Object.fromEntries(columns.map(([b, v]) => [key(b, v), { median: medians[key(b, v)] }])),
        single: { median: singleMedian },
      },
      runs,
      ratios: Object.fromEntries(
        columns.map(([b, v]) => [
          key(b, v),
          { over_single: medians[key(b, v)].overSingle, over_one_redis: medians[key(b, v)].overOneRedis },
        ]),
      ),
      errors,
    });
  }

  // ---- burst with recovery on vs off (issue 10) -----------------------------------------------------------------
  if (only.has('recovery')) {
    section(
      `recovery sessions: the burst (${config.sends} sends to "all") with resume on (clients on the resumable protocol) ` +
        'and off (resume: false, plain clients), alternating which goes first',
    );
    const runs: RecoveryFigures[] = [];
    const errors: { rep: number; error: string }[] = [];
    for (let rep = 0; rep < config.repeats; rep++) {
      const t = Date.now();
      try {
        const f = await runRecovery(config, rep);
        runs.push(f);
        const line = (b: RecoveryFigures['on']) => `${fmt.int(b.deliveriesPerSec)}/s ${fmt.fixed(3)(b.cpuUsPerDelivery)} µs CPU/delivery`;
        console.log(
          `${repLabel(rep)} recovery  on ${line(f.on)}; off ${line(f.off)}; on/off ${fmt.ratio(f.ratios.deliveriesPerSec)} ` +
            `(${f.first} first) (${((Date.now() - t) / 1000).toFixed(1)} s)${contamination(f.foreignCores)}`,
        );
      } catch (error) {
        failures++;
        errors.push({ rep, error: errorText(error) });
        console.log(`${repLabel(rep)} recovery  FAILED: ${errorText(error)}`);
      }
    }
    const modes = ['on', 'off'] as const;
    const pick = (b: RecoveryFigures['on']) => ({
      deliveriesPerSec: b.deliveriesPerSec,
      cpuUsPerDelivery: b.cpuUsPerDelivery,
      durationMs: b.durationMs,
      issuedMs: b.issuedMs,
      loadgenCoreShare: median(b.loadgenCoreShare),
      loadgenCpuUsPerDelivery: b.loadgenCpuUsPerDelivery,
      foreignCores: b.foreignCores,
    });
    const byMode = { on: runs.map((f) => pick(f.on)), off: runs.map((f) => pick(f.off)) };
    const result = compare(
      [
        { key: 'deliveriesPerSec', label: 'deliveries/s (until the last arrived)', better: 'higher', format: fmt.int },
        { key: 'cpuUsPerDelivery', label: 'server CPU µs per delivery', better: 'lower', format: fmt.fixed(3) },
        { key: 'loadgenCpuUsPerDelivery', label: 'load generators\' CPU µs per delivery (the clients)', better: 'lower', format: fmt.fixed(3) },
      ],
      byMode,
      modes,
      { on: 'resume on (resumable clients)', off: 'resume off (plain clients)' },
      'on',
    );
    const title = `burst with recovery on vs off: ${config.n} clients in one group, ${config.sends} group sends of ~${config.bytes} B back to back`;
    section(`${title}${config.repeats > 1 ? ` (median of ${config.repeats})` : ''}`);
    console.log(result.table);
    const perRepeat = runs.map((f) => fmt.ratio(f.ratios.deliveriesPerSec)).join(', ');
    const medianRatio = median(runs.map((f) => f.ratios.deliveriesPerSec));
    console.log(
      `on ÷ off deliveries/s per repeat: ${perRepeat || '—'} (median ${fmt.ratio(medianRatio)}; target ≥ 0.80×). ` +
        `Load generators' core use while receiving (median; near 1.00 = the clients set the pace): ` +
        `on ${fmt.fixed(2)(median(byMode.on.map((r) => r.loadgenCoreShare)))}, off ${fmt.fixed(2)(median(byMode.off.map((r) => r.loadgenCoreShare)))}`,
    );
    appendResult(resultsPath, {
      ...base,
      scenario: 'recovery',
      title,
      params: {
        n: config.n,
        sends: config.sends,
        bytes: config.bytes,
        modes: { on: 'resume on (module default), clients on the resumable protocol', off: 'resume: false, plain clients' },
      },
      repeats: config.repeats,
      servers: Object.fromEntries(modes.map((m) => [m, { median: result.medians[m], runs: runs.map((f) => f[m]) }])),
      ratios: { ...result.ratios, on_over_off_per_repeat: runs.map((f) => f.ratios), on_over_off_median: medianRatio },
      order: runs.map((f) => f.first),
      errors,
    });
  }

  // ---- idle memory with resume on (issue 10) ---------------------------------------------------------------------
  if (only.has('memory-resume')) {
    const refs = kinds.filter((k): k is 'ws' => k === 'ws');
    section(
      'memory-resume sessions: idle memory of our clients on the resumable protocol (resume on), against our plain ' +
        `clients${refs.length ? ' and raw ws' : ''} (reused from the memory sessions of this run when they ran)`,
    );
    type Column = 'resume' | 'ours' | 'ws';
    const columns: Column[] = ['resume', 'ours', ...refs];
    const runs: Partial<Record<Column, Record<string, number>[]>> = {};
    const reused: string[] = [];
    const errors: { kind: Column; rep: number; error: string }[] = [];
    const memoryOnly = { memory: true, broadcast: false, burst: false };
    const pickMemory = (f: FanoutFigures): Record<string, number> => ({
      rssPerConnKiB: f.memory!.rssPerConnKiB,
      heapPerConnKiB: f.memory!.heapPerConnKiB,
      externalPerConnKiB: f.memory!.externalPerConnKiB,
      foreignCores: f.foreignCores,
    });
    for (let rep = 0; rep < config.repeats; rep++) {
      for (const column of columns) {
        const t = Date.now();
        try {
          let figures: FanoutFigures;
          const earlier = column === 'resume' ? undefined : fanoutByRep[column]?.[rep];
          if (earlier?.memory) {
            figures = earlier;
            reused.push(`${column} rep ${rep + 1}`);
          } else if (column === 'resume') {
            figures = await runFanout(config, 'ours', memoryOnly, { clients: 'resume' });
          } else {
            figures = await runFanout(config, column, memoryOnly);
          }
          (runs[column] ??= []).push(pickMemory(figures));
          const label = column === 'resume' ? 'resumable' : column === 'ours' ? 'ours' : 'raw ws';
          console.log(
            `${repLabel(rep)} ${label.padEnd(9)} RSS ${fmt.fixed(2)(figures.memory!.rssPerConnKiB)} KiB/conn, heap ` +
              `${fmt.fixed(2)(figures.memory!.heapPerConnKiB)} KiB/conn` +
              (earlier?.memory ? ' (the memory session above)' : ` (${((Date.now() - t) / 1000).toFixed(1)} s)`) +
              contamination(figures.foreignCores),
          );
        } catch (error) {
          failures++;
          errors.push({ kind: column, rep, error: errorText(error) });
          console.log(`${repLabel(rep)} ${column.padEnd(9)} FAILED: ${errorText(error)}`);
        }
      }
    }
    const specs: MetricSpec[] = [
      { key: 'rssPerConnKiB', label: 'server RSS per connection (KiB)', better: 'lower', format: fmt.fixed(2) },
      { key: 'heapPerConnKiB', label: 'server heap used per connection (KiB)', better: 'lower', format: fmt.fixed(2) },
    ];
    const pairs: [Column, Column][] = [...refs.map((r): [Column, Column] => ['resume', r]), ['resume', 'ours']];
    const result = compare(specs, runs, columns, { resume: 'ours (resumable)', ours: 'ours (plain)', ws: 'raw ws' }, 'resume', pairs);
    const title = `idle memory with resume on: ${config.n} clients on the resumable protocol, bound to a uid and in two groups`;
    section(`${title}${config.repeats > 1 ? ` (median of ${config.repeats})` : ''}`);
    console.log(result.table);
    const cost = (key: string, ref: Column) => result.medians.resume[key] / result.medians[ref][key];
    console.log(
      (refs.length
        ? `the target's reading, resumable ÷ raw ws (cost; target ≤ 1.50×): RSS ${fmt.ratio(cost('rssPerConnKiB', 'ws'))}, ` +
          `heap ${fmt.ratio(cost('heapPerConnKiB', 'ws'))}; `
        : '') +
        `resumable ÷ plain: RSS ${fmt.ratio(cost('rssPerConnKiB', 'ours'))}, heap ${fmt.ratio(cost('heapPerConnKiB', 'ours'))}. ` +
        'Ratio columns above: how many times better (reference ÷ ours), as in the other tables',
    );
    appendResult(resultsPath, {
      ...base,
      scenario: 'memory-resume',
      title,
      params: { n: config.n, groupsPerClient: 2, reused },
      repeats: config.repeats,
      servers: Object.fromEntries(columns.map((k) => [k, { median: result.medians[k], runs: runs[k] ?? [] }])),
      ratios: {
        ...result.ratios,
        ...(refs.length ? { cost_over_ws: { rss: cost('rssPerConnKiB', 'ws'), heap: cost('heapPerConnKiB', 'ws') } } : {}),
        cost_over_plain: { rss: cost('rssPerConnKiB', 'ours'), heap: cost('heapPerConnKiB', 'ours') },
      },
      errors,
    });
  }

  // ---- resume storm (issue 10) -------------------------------------------------------------------------------------
  if (only.has('resume-storm')) {
    section(
      `resume storm sessions: ${config.n} clients on the resumable protocol over 2 gateway nodes (Redis engine), ` +
        `${config.stormRate} msg/s from a push-only node to ${config.stormGroups} groups and the uids; one node stopped ` +
        'gracefully (SIGTERM) and replaced, its clients resume on the other',
    );
    const runs: StormFigures[] = [];
    const errors: { rep: number; error: string }[] = [];
    for (let rep = 0; rep < config.repeats; rep++) {
      const t = Date.now();
      try {
        const f = await runStorm(config, rep);
        runs.push(f);
        const broken = f.lost + f.duplicates + f.disorder + f.rebinds + f.notRecovered + f.finalCloses + f.resumesOther + f.stray;
        console.log(
          `${repLabel(rep)} storm     ${fmt.int(f.stormClients)} clients resumed: p50 ${fmt.int(f.resumeP50Ms)} p99 ${fmt.int(f.resumeP99Ms)} ` +
            `all ${fmt.int(f.allResumedMs)} ms after the stop; ${fmt.fixed(2)(f.attemptsPerResume)} attempts each; lost ${f.lost}, ` +
            `re-binds ${f.rebinds}; ${fmt.int(f.cpuUsPerResume)} µs CPU/resume vs ${fmt.int(f.freshCpuUsPerClient)} µs per fresh ` +
            `connect+bind (${fmt.ratio(f.resumeOverFresh)}) (${((Date.now() - t) / 1000).toFixed(1)} s)${contamination(f.foreignCores)}`,
        );
        if (f.samples.length) console.log(`  first problems: ${f.samples.slice(0, 8).join(' | ')}`);
        const warnings = Object.entries(f.warningsB).sort((x, y) => y[1] - x[1]);
        if (warnings.length) console.log(`  surviving node's warnings: ${warnings.slice(0, 5).map(([text, count]) => `${count}× ${text}`).join(' | ')}`);
        console.log(
          `  first reconnect attempt before the stopped node exited (${fmt.int(f.shutdownMs)} ms after SIGTERM): ` +
            `${f.beforeExit.clients} clients, ${f.beforeExit.retried} needed more than one attempt; after: ` +
            `${f.afterExit.clients} clients, ${f.afterExit.retried} retried`,
        );
        if (broken > 0) {
          failures++;
          const why =
            `resume storm checks failed: lost ${f.lost}, duplicates ${f.duplicates}, out of order ${f.disorder}, re-binds ${f.rebinds}, ` +
            `not recovered ${f.notRecovered}, closed for good ${f.finalCloses}, resumes of clients not on the stopped node ` +
            `${f.resumesOther}, stray ${f.stray}`;
          errors.push({ rep, error: why });
          console.log(`  FAILED: ${why}`);
        }
      } catch (error) {
        failures++;
        errors.push({ rep, error: errorText(error) });
        console.log(`${repLabel(rep)} storm     FAILED: ${errorText(error)}`);
      }
    }
    type Row = { key: keyof StormFigures; label: string; format: (v: number) => string; total?: boolean };
    const rows: Row[] = [
      { key: 'stormClients', label: 'clients on the stopped node (they resume on the other)', format: fmt.int },
      { key: 'closeP50Ms', label: 'stop → 1012 close at the client, p50 (ms)', format: fmt.int },
      { key: 'resumeP50Ms', label: 'stop → resumed (welcome resumed:true), p50 (ms)', format: fmt.int },
      { key: 'resumeP99Ms', label: 'stop → resumed, p99 (ms)', format: fmt.int },
      { key: 'allResumedMs', label: 'stop → every client resumed (ms)', format: fmt.int },
      { key: 'attemptP50Ms', label: 'resume attempt: socket open → welcome, p50 (ms)', format: fmt.fixed(1) },
      { key: 'attemptP99Ms', label: 'resume attempt: socket open → welcome, p99 (ms)', format: fmt.fixed(1) },
      { key: 'attemptsPerResume', label: 'sockets opened per resumed client (1.00 = no retry)', format: fmt.fixed(2) },
      { key: 'deferred', label: 'resumes answered 1013 (try again later)', format: fmt.int },
      { key: 'accepted', label: 'messages sent and accepted (delivered + held > 0)', format: fmt.int },
      { key: 'heldMessages', label: '  of which held for a dropped client', format: fmt.int },
      { key: 'expectedDeliveries', label: 'deliveries expected (accepted × target clients)', format: fmt.int },
      { key: 'lost', label: 'messages lost (must be 0; all repeats)', format: fmt.int, total: true },
      { key: 'duplicates', label: 'duplicates + out of order (must be 0; all repeats)', format: fmt.int, total: true },
      { key: 'rebinds', label: 're-binds (must be 0; all repeats)', format: fmt.int, total: true },
      { key: 'notRecovered', label: 'resumed but not recovered (must be 0; all repeats)', format: fmt.int, total: true },
      { key: 'maxDelayMs', label: 'longest send → receipt of a message (ms)', format: fmt.int },
      { key: 'freshCpuUsPerClient', label: 'surviving node CPU µs per fresh connect + bind', format: fmt.int },
      { key: 'cpuUsPerResume', label: 'surviving node CPU µs per resume (stream deliveries subtracted)', format: fmt.int },
      { key: 'rawCpuUsPerResume', label: '  the same, nothing subtracted', format: fmt.int },
      { key: 'resumeOverFresh', label: 'CPU per resume ÷ per fresh connect + bind', format: fmt.ratio },
      { key: 'shutdownMs', label: 'stopped node: SIGTERM → exit (ms)', format: fmt.int },
    ];
    const value = (row: Row): number => {
      const values = runs.map((f) => {
        if (row.key === 'duplicates') return f.duplicates + f.disorder;
        return f[row.key] as number;
      });
      return row.total ? values.reduce((a, b) => a + b, 0) : median(values);
    };
    const medians = Object.fromEntries(rows.map((row) => [row.key, value(row)]));
    const title =
      `resume storm: ${config.n} resumable clients over 2 gateway nodes (Redis engine), ${config.stormRate} msg/s, ` +
      'one node stopped gracefully and replaced';
    section(`${title}${config.repeats > 1 ? ` (median of ${config.repeats})` : ''}`);
    console.log(renderTable(['metric', 'ours'], rows.map((row) => [row.label, row.format(medians[row.key])])));
    console.log(
      `stop = the orchestrator's SIGTERM to the node. Clients reconnect after the official client's backoff (first attempt ` +
        `in [0, ${config.stormBackoffMs}) ms, full jitter), so the resume times include that wait. Messages: each to a random ` +
        `uid (${Math.round((1 - config.stormGroupShare) * 100)} %) or one of ${config.stormGroups} groups, numbered per target; ` +
        'a fresh connect + bind = hello → welcome (registered in Redis) + bindUid + joinGroup, B\'s own clients at the start.',
    );
    appendResult(resultsPath, {
      ...base,
      scenario: 'resume-storm',
      title,
      params: {
        n: config.n,
        gatewayNodes: 2,
        pushOnlyNodes: 1,
        stormGroups: config.stormGroups,
        rate: config.stormRate,
        groupShare: config.stormGroupShare,
        backoffInitialMs: config.stormBackoffMs,
        engine: 'redis (one redis-server)',
      },
      repeats: config.repeats,
      servers: { ours: { median: medians, runs } },
      ratios: { resume_over_fresh: medians.resumeOverFresh },
      errors,
    });
  }

  console.log(`\nbench ${config.mode} finished in ${((Date.now() - started) / 60_000).toFixed(1)} min, ${failures} failure(s)`);
  clearTimeout(watchdog);
  process.exitCode = failures ? 1 : 0;
}

void main().catch((error: unknown) => {
  console.error(`bench: ${errorText(error)}`);
  killAllChildren();
  process.exit(1);
});

/**
 * The bench orchestrator: `npm run bench` (full) / `npm run bench:quick` (smoke). See bench/README.md.
 *
 *   node dist-bench/bench/run.js [--quick] [--only=memory,broadcast,burst,http,cluster] [--servers=ours,ws,socketio]
 *        [--n=9000] [--repeats=3] [--sends=20] [--bytes=100] [--rates=500,1000,2000,4000] [--step-seconds=3]
 *        [--bisect=3] [--http-platforms=express,fastify[,fastify-fix]] [--cluster-masters=3] [--cluster-groups=16]
 *        [--results=bench/results/results.jsonl] [--budget-min=40] [--ours-options='{"fanoutChunk":1024}'] [--verbose]
 *
 * Every server, load generator and sender is a child process of this one; all are killed when it exits, fails,
 * is interrupted or passes its time budget.
 */
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

const SCENARIOS = ['memory', 'broadcast', 'burst', 'http', 'cluster'] as const;
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

  console.log(`\nbench ${config.mode} finished in ${((Date.now() - started) / 60_000).toFixed(1)} min, ${failures} failure(s)`);
  clearTimeout(watchdog);
  process.exitCode = failures ? 1 : 0;
}

void main().catch((error: unknown) => {
  console.error(`bench: ${errorText(error)}`);
  killAllChildren();
  process.exit(1);
});

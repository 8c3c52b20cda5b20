/**
 * One soak run on one engine, as the CLI (`soak/run.ts`) and the Jest test (`test/soak.e2e-spec.ts`) both drive it:
 *
 *   orchestrator (this) ── HTTP: numbered POST /send, GET /stats ──▶ push node (A, or C on Redis)
 *        │  IPC                                                      ▲
 *        ├── watchers process: 50 sockets, bind once, only receive ──┤ gateway nodes (A; or A and B on Redis)
 *        └── churn process: ~150 sockets/s, login, bind, join, drop ─┘
 *   + /proc/<pid>/status of every server, every few seconds
 *
 * The servers are the example app as `npm start` runs it, in child processes of their own. Every wait is bounded,
 * a child that dies aborts the run at once, and whatever happens every child and redis-server is reaped before
 * `runSoak` returns.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Peer } from '../bench/lib/ipc';
import { AppCluster } from './lib/app-cluster';
import { keepAliveAgent, login, stats, type AppStats } from './lib/app-http';
import type { ChurnConfig, ChurnProgress, ChurnReport } from './lib/churn.protocol';
import { diffNames, indexSnapshot, type IndexSnapshot } from './lib/index-keys';
import { Pusher } from './lib/pusher';
import { compiledSoakDir, repoRoot } from './lib/repo-root';
import { judgeRss, RssSampler } from './lib/rss-sampler';
import { ranges } from './lib/sequence-check';
import type { Channel, WatcherReport, WatchersConfig, WatchersProgress, WatchersReport } from './lib/watchers.protocol';
import type { SoakOptions } from './soak.options';
import { verdict, type ChannelTotals, type SoakReport } from './soak.report';

const WATCHERS_GROUP = 'watchers';
const PUSHER_UID = 'pusher';
const REQUEST_TIMEOUT_MS = 10_000;
const POLL_EVERY_MS = 200;
/** Most evidence lines kept per list. */
const MAX_LINES = 12;

export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  return new SoakRun(options).execute();
}

class SoakRun {
  private readonly report: SoakReport;
  private readonly agent = keepAliveAgent(64);
  private readonly abort = new AbortController();
  private readonly workerDir = compiledSoakDir(repoRoot());
  private cluster: AppCluster | null = null;
  private watchers: Peer | null = null;
  private churn: Peer | null = null;
  private pusher: Pusher | null = null;
  private sampler: RssSampler | null = null;
  private indexTimer: NodeJS.Timeout | null = null;
  private lastStats: AppStats | null = null;
  private lastOpen = 0;
  private loadStart = 0;
  private stopping = false;

  constructor(private readonly options: SoakOptions) {
    const o = options;
    this.report = {
      engine: o.engine,
      shape: {
        durationMs: o.durationMs,
        churnPerSecond: o.churnPerSecond,
        churnLifetimeMs: o.churnLifetimeMs,
        watchers: o.watchers,
        groupPushesPerSecond: o.groupPushesPerSecond,
        uidPushesPerSecond: o.uidPushesPerSecond,
        heartbeat: `${o.heartbeatIntervalMs} / ${o.heartbeatTimeoutMs} ms`,
        nodeTtlMs: o.engine === 'redis' ? o.nodeTtlMs : null,
      },
      nodes: [],
      wallMs: 0,
      error: null,
      churn: null,
      pushes: null,
      watchers: null,
      index: {
        expected: { clients: o.watchers, uids: o.watchers, groups: 1 },
        baseline: null,
        checked: false,
        final: null,
        settledAfterMs: null,
        during: { samples: 0, minClients: Infinity, maxClients: 0, maxExcess: -Infinity, errors: [] },
        belowWatchers: [],
        keys: null,
        channels: null,
      },
      rss: { verdicts: [], limitMib: o.rssLimitMib, warmupMs: o.rssWarmupMs, windowMs: o.rssWindowMs, samples: [] },
      warnings: [],
      serverErrors: [],
      failures: [],
    };
  }

  async execute(): Promise<SoakReport> {
    const began = Date.now();
    const budget = setTimeout(() => this.fail(`budget of ${this.options.budgetMs} ms spent`), this.options.budgetMs);
    // If the process exits under us (an uncaught error, process.exit in a signal handler), nothing is left behind.
    const onExit = () => this.cluster?.killNow();
    process.once('exit', onExit);
    const failed = new Promise<never>((_, reject) => {
      this.abort.signal.addEventListener('abort', () => reject(this.abort.signal.reason), { once: true });
    });
    const body = this.body();
    body.catch(() => undefined); // once aborted, its pending steps fail on their own; the abort is what counts
    try {
      await Promise.race([body, failed]);
    } catch (error) {
      this.report.error = (error as Error)?.stack ?? String(error);
      if (this.cluster && !(error as Error)?.message?.includes('exited')) {
        this.report.error += `\n--- servers' last output ---\n${this.cluster.outputs(1_500)}`;
      }
      this.options.log(`${this.options.engine}: run aborted: ${String((error as Error)?.message ?? error).split('\n')[0]}`);
    } finally {
      clearTimeout(budget);
      await this.teardown();
      process.off('exit', onExit);
    }
    this.report.wallMs = Date.now() - began;
    this.report.failures = verdict(this.report);
    return this.report;
  }

  private async body(): Promise<void> {
    const o = this.options;
    const { signal } = this.abort;
    for (const script of ['churn.worker.js', 'watchers.worker.js']) {
      if (!existsSync(join(this.workerDir, script))) {
        throw new Error(`${join(this.workerDir, script)} is missing: compile the soak first (tsc -p soak/tsconfig.json)`);
      }
    }
    const root = o.root ?? repoRoot();
    if (!existsSync(join(root, 'dist/src/main.js'))) throw new Error(`${root}/dist/src/main.js is missing: run nest build`);

    this.log(o.engine === 'redis' ? 'starting redis-server, gateway nodes A and B, push-only node C' : 'starting node A');
    this.cluster = await AppCluster.start({ ...o, root });
    this.cluster.onDeath((why) => this.fail(why));
    const { cluster } = this;
    this.report.nodes = cluster.nodes.map((n) => ({
      name: n.name,
      role: n.gateway ? 'gateway' : 'push-only',
      pid: n.process.pid ?? 0,
    }));
    const push = cluster.pushNode.process.url;
    const gateways = cluster.gateways;
    signal.throwIfAborted();

    // Watchers first: they are the index the run must come back to.
    const uids = Array.from({ length: o.watchers }, (_, i) => `watcher-${i}`);
    const watchersConfig: WatchersConfig = {
      watchers: uids.map((uid, i) => {
        const node = gateways[i % gateways.length];
        return { uid, node: node.name, wsUrl: node.process.wsUrl, httpBase: node.process.url };
      }),
      group: WATCHERS_GROUP,
      pusherUid: PUSHER_UID,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
      connectTimeoutMs: REQUEST_TIMEOUT_MS,
      heartbeatIntervalMs: o.heartbeatIntervalMs,
    };
    this.watchers = this.fork('watchers', 'watchers.worker.js');
    await this.watchers.request('start', watchersConfig, 60_000);
    const expected = this.report.index.expected;
    const baseline = await this.settleStats(push, expected);
    this.report.index.baseline = baseline.stats;
    if (baseline.ms === null) {
      throw new Error(`/stats never showed the watchers alone before the churn: ${JSON.stringify(baseline.stats)}`);
    }
    const redis = cluster.redis;
    const before = redis ? await indexSnapshot(redis.url, cluster.prefix) : null;
    const cookie = await login(this.agent, push, PUSHER_UID, REQUEST_TIMEOUT_MS);
    signal.throwIfAborted();

    // The load: churn, pushes, and the periodic checks of the index and of memory.
    this.sampler = new RssSampler(
      [
        ...cluster.nodes.map((n) => ({ name: n.name, pid: n.process.pid!, judged: true })),
        ...(redis?.child?.pid ? [{ name: 'redis-server', pid: redis.child.pid, judged: false }] : []),
      ],
      o.sampleEveryMs,
    );
    const churnConfig: ChurnConfig = {
      gateways: gateways.map((n) => n.process.wsUrl),
      // On Redis a churner binds through any node, so binds also cross to the holder (request/reply) and race
      // the close from there.
      httpNodes: cluster.nodes.map((n) => n.process.url),
      perSecond: o.churnPerSecond,
      meanLifetimeMs: o.churnLifetimeMs,
      joinRatio: o.joinRatio,
      raceRatio: o.raceRatio,
      raceWindowMs: o.raceWindowMs,
      rooms: 16,
      topics: 8,
      uidPrefix: 'churn-',
      maxOpen: Math.ceil(o.churnPerSecond * (o.churnLifetimeMs / 1000) * 3) + 100,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
      connectTimeoutMs: REQUEST_TIMEOUT_MS,
    };
    this.pusher = new Pusher(this.agent, {
      base: push,
      cookie,
      uids,
      group: WATCHERS_GROUP,
      groupPerSecond: o.groupPushesPerSecond,
      uidPerSecond: o.uidPushesPerSecond,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
    });
    this.churn = this.fork('churn', 'churn.worker.js');
    this.log(
      `load for ${fmtS(o.durationMs)}: ${o.churnPerSecond} churn sockets/s (~${o.churnLifetimeMs} ms each), ` +
        `${o.watchers} watchers, ${o.groupPushesPerSecond + o.uidPushesPerSecond} pushes/s`,
    );
    this.sampler.start();
    await this.churn.request('start', churnConfig, 10_000);
    this.pusher.start();
    this.loadStart = Date.now();
    this.startIndexChecks(push);
    const progressEvery = Math.min(60_000, Math.max(5_000, Math.round(o.durationMs / 10)));
    for (let elapsed = 0; elapsed < o.durationMs; ) {
      const step = Math.min(progressEvery, o.durationMs - elapsed);
      await delay(step, undefined, { signal });
      elapsed += step;
      await this.logProgress(elapsed);
    }

    // Stop, drain, then check.
    this.stopIndexChecks();
    this.sampler.stop();
    await this.pusher.stop();
    this.report.pushes = this.pusher.result();
    const drainMs = 2 * o.churnLifetimeMs + 10_000;
    this.log('load over: draining the churn');
    this.report.churn = await this.churn.request<ChurnReport>('stop', { drainMs }, drainMs + 20_000);
    const sent = this.pusher.sent();
    await this.awaitDeliveries(sent);

    this.report.index.checked = true;
    const final = await this.settleStats(push, expected);
    this.report.index.final = final.stats;
    this.report.index.settledAfterMs = final.ms;
    if (redis && before) {
      const after = await this.settleRedisIndex(redis.url, cluster.prefix, before);
      for (const what of ['keys', 'channels'] as const) {
        const diff = diffNames(before[what], after[what]);
        this.report.index[what] = { ...diff, before: before[what].length, after: after[what].length };
      }
    }
    const watchers = await this.watchers.request<WatchersReport>('report', { sent }, 30_000);
    const closed = await this.watchers.request<{ unanswered: number }>('close', { timeoutMs: 5_000 }, 15_000);
    this.summariseWatchers(watchers, closed.unanswered);
  }

  /** Polls /stats until it equals `expected` (bounded by `settleMs`); the last value seen either way. */
  private async settleStats(base: string, expected: AppStats): Promise<{ stats: AppStats | null; ms: number | null }> {
    const started = Date.now();
    const want = JSON.stringify(expected);
    let last: AppStats | null = null;
    while (Date.now() - started <= this.options.settleMs) {
      this.abort.signal.throwIfAborted();
      try {
        last = await stats(this.agent, base, 5_000);
        if (JSON.stringify(last) === want) return { stats: last, ms: Date.now() - started };
      } catch {
        // a failed poll is retried until the bound
      }
      await delay(POLL_EVERY_MS, undefined, { signal: this.abort.signal });
    }
    return { stats: last, ms: null };
  }

  /**
   * Snapshots of the Redis index until it equals `before` (unsubscribing trails the last close a little), bounded
   * by `settleMs`; the last snapshot either way.
   */
  private async settleRedisIndex(url: string, prefix: string, before: IndexSnapshot): Promise<IndexSnapshot> {
    const started = Date.now();
    const want = JSON.stringify(before);
    for (;;) {
      const now = await indexSnapshot(url, prefix);
      if (JSON.stringify(now) === want || Date.now() - started > this.options.settleMs) return now;
      await delay(POLL_EVERY_MS, undefined, { signal: this.abort.signal });
    }
  }

  /** Waits (bounded) until every watcher that was not cut has seen the last number of both its channels. */
  private async awaitDeliveries(sent: Record<string, Record<Channel, number>>): Promise<void> {
    const deadline = Date.now() + this.options.settleMs;
    while (Date.now() < deadline) {
      const progress = await this.watchers!.request<WatchersProgress>('progress', {}, 10_000);
      const behind = Object.entries(sent).filter(([uid, s]) => {
        const got = progress.highest[uid];
        return !got || got.u < s.u || got.g < s.g;
      });
      // A cut watcher never catches up; the report says what it missed.
      if (behind.length <= progress.cut) return;
      await delay(POLL_EVERY_MS, undefined, { signal: this.abort.signal });
    }
  }

  private startIndexChecks(base: string): void {
    const { during, belowWatchers, expected } = this.report.index;
    let busy = false;
    this.indexTimer = setInterval(() => {
      if (busy || this.stopping) return;
      busy = true;
      const t = fmtS(Date.now() - this.loadStart);
      void Promise.all([stats(this.agent, base, 5_000), this.churn!.request<ChurnProgress>('progress', {}, 5_000)])
        .then(([s, churn]) => {
          this.lastStats = s;
          this.lastOpen = churn.open;
          during.samples++;
          during.minClients = Math.min(during.minClients, s.clients);
          during.maxClients = Math.max(during.maxClients, s.clients);
          // More clients than watchers plus every churn socket open or opening: entries outliving their socket
          // (a close not processed yet counts too, so this is a hint, not an assertion).
          during.maxExcess = Math.max(during.maxExcess, s.clients - expected.clients - churn.open);
          if (s.clients < expected.clients || s.uids < expected.uids || s.groups < expected.groups) {
            if (belowWatchers.length < MAX_LINES) belowWatchers.push(`at ${t}: /stats ${JSON.stringify(s)}`);
          }
        })
        .catch((error: Error) => {
          if (!this.stopping && during.errors.length < MAX_LINES) during.errors.push(`at ${t}: ${error.message}`);
        })
        .finally(() => (busy = false));
    }, this.options.sampleEveryMs);
  }

  private stopIndexChecks(): void {
    if (this.indexTimer) clearInterval(this.indexTimer);
    this.indexTimer = null;
  }

  private async logProgress(elapsed: number): Promise<void> {
    const [churn, watchers] = await Promise.all([
      this.churn!.request<ChurnProgress>('progress', {}, 5_000).catch(() => null),
      this.watchers!.request<WatchersProgress>('progress', {}, 5_000).catch(() => null),
    ]);
    const last = this.sampler!.samples.at(-1);
    const rss = last ? Object.entries(last.kib).map(([name, kib]) => `${name} ${(kib / 1024).toFixed(1)}`).join(', ') : '-';
    const pushes = this.pusher!.result();
    this.log(
      `${fmtS(elapsed)}: churn opened ${churn?.opened ?? '?'}, open ${churn?.open ?? this.lastOpen}, ` +
        `cut ${churn?.cut ?? '?'}, errors ${churn?.errors ?? '?'}; pushes ${pushes.groupSent + pushes.uidSent}; ` +
        `watchers cut ${watchers?.cut ?? '?'}; /stats ${JSON.stringify(this.lastStats)}; RSS MiB ${rss}`,
    );
  }

  private summariseWatchers(report: WatchersReport, unansweredCloses: number): void {
    const totals = (): ChannelTotals => ({
      expected: 0,
      received: 0,
      lost: 0,
      lostAfterCut: 0,
      duplicated: 0,
      outOfOrder: 0,
      unexpected: 0,
    });
    const channels: Record<Channel, ChannelTotals> = { u: totals(), g: totals() };
    const evidence: string[] = [];
    const cut: NonNullable<SoakReport['watchers']>['cut'] = [];
    let misdelivered = 0;
    for (const w of report.watchers) {
      const problems: string[] = [];
      for (const ch of ['u', 'g'] as const) {
        const c = w.channels[ch];
        const t = channels[ch];
        const after = w.cut ? c.lostSeqs.filter((seq) => this.pusher!.sentTime(w.uid, ch, seq) >= w.cut!.at).length : 0;
        t.expected += c.sent;
        t.received += c.received;
        t.lost += c.lost;
        t.lostAfterCut += after;
        t.duplicated += c.duplicated;
        t.outOfOrder += c.outOfOrder;
        t.unexpected += c.unexpected;
        const parts: string[] = [];
        if (c.lost) parts.push(`lost ${ranges(c.lostSeqs)} (${c.lost} of ${c.sent}${this.lostWhen(w, ch, c.lostSeqs, after)})`);
        if (c.duplicated) parts.push(`${c.duplicated} duplicated`);
        if (c.outOfOrder) parts.push(`${c.outOfOrder} out of order (${c.outOfOrderSamples.join('; ')})`);
        if (c.unexpected) parts.push(`${c.unexpected} unknown numbers`);
        if (parts.length) problems.push(`${ch === 'u' ? 'uid' : 'group'}: ${parts.join(', ')}`);
      }
      misdelivered += w.misdelivered;
      if (w.misdelivered) problems.push(`${w.misdelivered} misdelivered (${w.misdeliveredSamples[0]})`);
      if (w.cut) {
        const atS = round1((w.cut.at - this.loadStart) / 1000);
        cut.push({ ...w.cut, uid: w.uid, node: w.node, clientId: w.clientId, atS });
        const ping = w.cut.lastPingAgoMs === null ? 'never pinged' : `${fmtS(w.cut.lastPingAgoMs)} after its last ping`;
        problems.unshift(
          `cut ${w.cut.code}${w.cut.reason ? ` "${w.cut.reason}"` : ''} at ${atS} s, ${ping} ` +
            `(${w.pings} pings, longest gap ${fmtS(w.maxPingGapMs)}; had u ${w.cut.highest.u}, g ${w.cut.highest.g})`,
        );
      }
      if (problems.length && evidence.length < MAX_LINES) {
        evidence.push(`${w.uid} (node ${w.node}, ${w.clientId.slice(0, 8)}…): ${problems.join('; ')}`);
      }
    }
    const worst = [...report.watchers].sort((a, b) => b.maxPingGapMs - a.maxPingGapMs)[0];
    const latePings = report.watchers.reduce((sum, w) => sum + w.latePings, 0);
    if (latePings) {
      const { heartbeatIntervalMs: interval, heartbeatTimeoutMs: timeout } = this.options;
      this.report.warnings.push(
        `${latePings} gap(s) between two pings of a watcher exceeded 1.5× the ${interval} ms interval; the longest, ` +
          `${fmtS(worst.maxPingGapMs)} (timeout ${fmtS(timeout)}), for ${worst.uid} on node ${worst.node} ending at ` +
          `${fmtS(worst.maxPingGapAt - this.loadStart)} into the load: a visit of the heartbeat was skipped`,
      );
    }
    this.report.watchers = {
      count: report.watchers.length,
      cut,
      channels,
      misdelivered,
      evidence,
      minPings: Math.min(...report.watchers.map((w) => w.pings)),
      maxPingGapMs: worst?.maxPingGapMs ?? 0,
      maxPingGap: worst
        ? `${worst.uid} on node ${worst.node}, ending at ${fmtS(worst.maxPingGapAt - this.loadStart)} into the load`
        : '-',
      latePings,
      eventLoopMaxMs: report.eventLoopMaxMs,
      unansweredCloses,
    };
  }

  /** When the lost numbers were issued, relative to the load start (and to the cut, if any). */
  private lostWhen(w: WatcherReport, ch: Channel, lost: number[], afterCut: number): string {
    if (w.cut) return afterCut === lost.length ? ', all issued after the cut' : `, ${lost.length - afterCut} before the cut`;
    const first = this.pusher!.sentTime(w.uid, ch, lost[0]);
    return `, first issued at ${fmtS(first - this.loadStart)}`;
  }

  private fork(name: string, script: string): Peer {
    const peer = Peer.fork(name, join(this.workerDir, script), [], { verbose: this.options.verbose });
    void peer.exited.then(({ code, signal }) => {
      if (!this.stopping) this.fail(`${name} process exited (code ${code}, signal ${signal})\n${peer.output().slice(-3_000)}`);
    });
    return peer;
  }

  private fail(why: string): void {
    if (!this.abort.signal.aborted) this.abort.abort(new Error(why));
  }

  /** Stops everything, each step bounded, and reaps every child and redis-server. */
  private async teardown(): Promise<void> {
    this.stopping = true;
    this.stopIndexChecks();
    this.sampler?.stop();
    if (this.pusher) await within(this.pusher.stop(), REQUEST_TIMEOUT_MS + 1_000).catch(() => undefined);
    if (this.report.pushes === null && this.pusher) this.report.pushes = this.pusher.result();
    await Promise.allSettled([this.churn?.kill(), this.watchers?.kill()]);
    if (this.cluster) {
      this.report.serverErrors = serverErrors(this.cluster);
      await this.cluster.stop().catch((error: Error) => this.log(`teardown: ${error.message}`));
    }
    this.agent.destroy();
    if (this.sampler) {
      this.report.rss.verdicts = judgeRss(this.sampler, this.options.rssWarmupMs, this.options.rssWindowMs);
      this.report.rss.samples = this.sampler.samples;
    }
  }

  private log(line: string): void {
    this.options.log(`${this.options.engine}: ${line}`);
  }
}

/** Lines the servers logged at error or warning level (a few per node). */
function serverErrors(cluster: AppCluster): string[] {
  const out: string[] = [];
  for (const node of cluster.nodes) {
    const lines = node.process
      .output()
      .split('\n')
      .filter((line) => /\b(ERROR|WARN)\b|Error:|Unhandled|uncaught/i.test(line) && !line.startsWith('---'));
    for (const line of lines.slice(0, 5)) out.push(`node ${node.name}: ${line.trim().slice(0, 240)}`);
    if (lines.length > 5) out.push(`node ${node.name}: … ${lines.length - 5} more`);
  }
  return out;
}

/** `promise`, or nothing after `ms` (the timer does not outlive it). */
async function within(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]).finally(() =>
    clearTimeout(timer),
  );
}

function fmtS(ms: number): string {
  return `${round1(ms / 1000)} s`;
}

function round1(value: number): number {
  return Math.round(value * 10) / 10;
}

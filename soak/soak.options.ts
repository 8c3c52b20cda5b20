/** The load shape and the bounds of one soak run, with the defaults the issue asks for. */

export type SoakEngine = 'memory' | 'redis';

export interface SoakOptions {
  /** `memory`: one node. `redis`: two gateway nodes and a push-only node on a redis-server of the soak's own. */
  engine: SoakEngine;
  /** How long the churn and the pushes run (setup, drain and checks come on top). */
  durationMs: number;
  /** New churn sockets per second, and their mean life: about perSecond × life open at once. */
  churnPerSecond: number;
  churnLifetimeMs: number;
  /** Share of churners that `POST /join` a second group after their bind. */
  joinRatio: number;
  /** Share of churners that close within `raceWindowMs` of sending their bind or join (a close racing the write). */
  raceRatio: number;
  raceWindowMs: number;
  /** Long-lived watchers (uid `watcher-N`, all in group `watchers`). */
  watchers: number;
  /** Numbered pushes per second to the watchers' group, and in total to their uids. */
  groupPushesPerSecond: number;
  uidPushesPerSecond: number;
  /**
   * Server heartbeat: short, so that it runs several times even in a 10-second soak, but with the interval longer
   * than (watchers + churn sockets open) / churn rate (~2.3 s for the default shape). Below that a sweep that
   * walks one iterator over every connection still catches up with the newcomers, and the defect where it never
   * gets back to the old connections (issue 7 #1) cannot show; at 1 s / 2.5 s this soak passed on a tree that
   * had it. The timeout is 2.5× the interval, like the 1 s / 2.5 s.
   */
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  /** Redis engine: node liveness window. */
  nodeTtlMs: number;
  /** How often the index (/stats) and the memory of every server are sampled. */
  sampleEveryMs: number;
  /** RSS flatness: samples before `rssWarmupMs` are ignored; medians of the first and last `rssWindowMs` compared. */
  rssWarmupMs: number;
  rssWindowMs: number;
  rssLimitMib: number;
  /** Bound on the wait for the last pushes to land, and for /stats to settle to the watchers alone. */
  settleMs: number;
  /** Hard bound on the whole run (setup and teardown included): past it everything is killed. */
  budgetMs: number;
  /** Repository whose `dist/src/main.js` is run (default: this one). */
  root?: string;
  /** Progress lines (the CLI prints them; the Jest test keeps them for a failure message). */
  log: (line: string) => void;
  /** Echo every server's output as it comes. */
  verbose: boolean;
}

/**
 * The shape: ~150 churn sockets/s living ~2 s (~300 open; a tenth of them close while their bind or join
 * is in flight), 50 watchers, 50 numbered pushes/s (10 to the group, 40 spread over the uids), heartbeat 3 s / 7.5 s,
 * node TTL 2 s. The RSS bound is the 10 MiB over one-minute windows for runs of 4 minutes and more per
 * engine. Shorter runs compare shorter windows against 40 MiB, since a node is still growing its heap toward its
 * working size then (measured: the RSS of a Redis gateway node climbs 20–50 MiB over its first 2–3 minutes of
 * this churn while its JS heap stays at 18–20 MiB), so they only catch a gross leak.
 */
export function soakOptions(engine: SoakEngine, durationMs: number, overrides: Partial<SoakOptions> = {}): SoakOptions {
  const long = durationMs >= 4 * 60_000;
  // Long runs judge the node at its working size: the RSS of a node climbs 20-50 MiB over its first 2 minutes of
  // this churn while its JS heap stays at 18-20 MiB (V8 sizing itself to the allocation rate), and the first minute
  // of the run would measure that warm-up, not a leak. `--rss-warmup-s` sets it.
  const rssWarmupMs = long ? 120_000 : Math.min(10_000, Math.round(durationMs / 4));
  const options: SoakOptions = {
    engine,
    durationMs,
    churnPerSecond: 150,
    churnLifetimeMs: 2_000,
    joinRatio: 0.5,
    raceRatio: 0.1,
    raceWindowMs: 25,
    watchers: 50,
    groupPushesPerSecond: 10,
    uidPushesPerSecond: 40,
    heartbeatIntervalMs: 3_000,
    heartbeatTimeoutMs: 7_500,
    nodeTtlMs: 2_000,
    sampleEveryMs: durationMs >= 60_000 ? 2_000 : 1_000,
    rssWarmupMs,
    rssWindowMs: long ? 60_000 : Math.max(1_000, Math.round((durationMs - rssWarmupMs) / 5)),
    rssLimitMib: long ? 10 : 40,
    settleMs: 15_000,
    budgetMs: durationMs + 150_000,
    log: () => undefined,
    verbose: false,
    ...overrides,
  };
  return options;
}

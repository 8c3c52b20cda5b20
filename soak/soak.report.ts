/**
 * What one soak run found, and the verdict: the list of assertions that failed, each with its evidence. An empty
 * `failures` list is a pass; the CLI exits non-zero and the Jest test fails otherwise.
 */
import type { AppStats } from './lib/app-http';
import type { ChurnReport } from './lib/churn.protocol';
import type { IndexDiff } from './lib/index-keys';
import type { PusherSummary } from './lib/pusher';
import type { RssSample, RssVerdict } from './lib/rss-sampler';
import type { Channel, WatcherCut } from './lib/watchers.protocol';
import type { SoakEngine } from './soak.options';

export interface ChannelTotals {
  /** Pushes every watcher should have received on this channel, summed over the watchers. */
  expected: number;
  received: number;
  lost: number;
  /** Of the lost, those issued after their watcher had been cut (a consequence of the cut). */
  lostAfterCut: number;
  duplicated: number;
  outOfOrder: number;
  unexpected: number;
}

export interface SoakReport {
  engine: SoakEngine;
  /** The load shape asked for. */
  shape: {
    durationMs: number;
    churnPerSecond: number;
    churnLifetimeMs: number;
    watchers: number;
    groupPushesPerSecond: number;
    uidPushesPerSecond: number;
    heartbeat: string;
    nodeTtlMs: number | null;
  };
  nodes: { name: string; role: string; pid: number }[];
  /** Wall time of the whole run, setup and checks included. */
  wallMs: number;
  /** Set when the run could not go through (a process died, setup failed, budget spent). */
  error: string | null;
  churn: ChurnReport | null;
  pushes: PusherSummary | null;
  watchers: {
    count: number;
    cut: (WatcherCut & { uid: string; node: string; clientId: string; atS: number })[];
    channels: Record<Channel, ChannelTotals>;
    misdelivered: number;
    /** One line per watcher that missed, repeated or reordered something. */
    evidence: string[];
    /** Heartbeat as the watchers saw it: fewest pings one got, longest gap between two pings of one socket. */
    minPings: number;
    maxPingGapMs: number;
    /** Which watcher had the longest gap, and when (s into the load). */
    maxPingGap: string;
    /** Gaps over 1.5× the interval, summed over the watchers. */
    latePings: number;
    eventLoopMaxMs: number;
    unansweredCloses: number;
  } | null;
  index: {
    expected: AppStats;
    /** /stats once the watchers were bound, before the churn. */
    baseline: AppStats | null;
    /** Whether the run got as far as the final check. */
    checked: boolean;
    /** Last /stats of the final poll, and how long it took to settle (null: it never did). */
    final: AppStats | null;
    settledAfterMs: number | null;
    /** /stats while the churn ran: lowest and highest counts, and how far clients exceeded watchers + churn sockets open. */
    during: { samples: number; minClients: number; maxClients: number; maxExcess: number; errors: string[] };
    /** Samples in which the index lacked some watcher (fewer clients, uids or groups than the watchers alone). */
    belowWatchers: string[];
    /** Redis engine: index keys, and channels the nodes subscribe to, after the run against before the churn. */
    keys: (IndexDiff & { before: number; after: number }) | null;
    channels: (IndexDiff & { before: number; after: number }) | null;
  };
  rss: { verdicts: RssVerdict[]; limitMib: number; warmupMs: number; windowMs: number; samples: RssSample[] };
  /** Worth a look but not an assertion of the issue (e.g. late pings that did not lead to a cut). */
  warnings: string[];
  /** Lines logged by the servers at error or warning level (first few per node). */
  serverErrors: string[];
  failures: string[];
}

/** The assertions of the issue (and the checks that keep the soak honest), as failure lines. */
export function verdict(report: SoakReport): string[] {
  const failures: string[] = [];
  const fail = (line: string) => failures.push(line);
  if (report.error) fail(`run did not complete: ${report.error.split('\n')[0]}`);
  const { watchers, churn, pushes, index } = report;
  if (watchers) {
    for (const ch of ['u', 'g'] as const) {
      const t = watchers.channels[ch];
      const name = ch === 'u' ? 'uid' : 'group';
      if (t.lost) fail(`${t.lost} ${name} push(es) lost (${t.lostAfterCut} of them after their watcher was cut)`);
      if (t.duplicated) fail(`${t.duplicated} ${name} push(es) delivered twice`);
      if (t.outOfOrder) fail(`${t.outOfOrder} ${name} push(es) out of order`);
      if (t.unexpected) fail(`${t.unexpected} ${name} frame(s) with a number nobody sent`);
    }
    if (watchers.misdelivered) fail(`${watchers.misdelivered} frame(s) reached a watcher they were not meant for`);
    if (watchers.cut.length) {
      const codes = countBy(watchers.cut.map((c) => c.code));
      fail(`${watchers.cut.length} watcher(s) cut by the server (close codes ${codes})`);
    }
    if (watchers.unansweredCloses) fail(`${watchers.unansweredCloses} watcher close(1000) never answered`);
  } else if (!report.error) fail('no watcher report');
  if (churn) {
    if (churn.cut) fail(`${churn.cut} healthy churn socket(s) cut by the server (close codes ${fmtCodes(churn.cutCodes)})`);
    if (churn.errors) fail(`${churn.errors} churn error(s) (refused upgrades, failed requests): ${churn.errorSamples[0]}`);
    if (churn.unansweredCloses) fail(`${churn.unansweredCloses} churn close(1000) never answered`);
    if (churn.unexpectedFrames) fail(`${churn.unexpectedFrames} unexpected frame(s) on churn sockets`);
  }
  if (pushes) {
    if (pushes.errors) fail(`${pushes.errors} POST /send failed: ${pushes.samples[0]}`);
    if (pushes.wrongDelivered) fail(`${pushes.wrongDelivered} POST /send answered a wrong delivered count: ${pushes.samples[0]}`);
  }
  if (index.checked && index.settledAfterMs === null) {
    const expected = JSON.stringify(index.expected);
    fail(`index not back to the watchers alone: /stats ${JSON.stringify(index.final)}, expected ${expected}`);
  }
  if (index.belowWatchers.length) fail(`index lacked watchers during the run: ${index.belowWatchers[0]}`);
  if (index.during.errors.length) fail(`${index.during.errors.length} GET /stats failed during the run: ${index.during.errors[0]}`);
  for (const [what, diff] of [
    ['index keys', index.keys],
    ['subscribed channels', index.channels],
  ] as const) {
    if (diff && (diff.extra.length || diff.missing.length)) {
      fail(
        `Redis ${what} not back to the baseline: ${diff.extra.length} extra (${diff.extra.slice(0, 3).join(', ')})` +
          `, ${diff.missing.length} missing (${diff.missing.slice(0, 3).join(', ')})`,
      );
    }
  }
  for (const rss of report.rss.verdicts) {
    if (!rss.judged) continue;
    if (!Number.isFinite(rss.growthMib)) {
      if (!report.error) fail(`RSS of ${rss.name}: not enough samples`);
    } else if (rss.growthMib >= report.rss.limitMib) {
      fail(
        `RSS of ${rss.name} grew ${rss.growthMib} MiB (floor of the first window ${rss.firstMib} → of the last ` +
          `${rss.lastMib}; medians ${rss.firstMedianMib} → ${rss.lastMedianMib}), limit ${report.rss.limitMib} MiB`,
      );
    }
  }
  return failures;
}

export function fmtCodes(codes: Record<string, number>): string {
  const entries = Object.entries(codes);
  return entries.length ? entries.map(([code, n]) => `${code}×${n}`).join(', ') : '-';
}

function countBy(values: number[]): string {
  const out: Record<string, number> = {};
  for (const value of values) out[value] = (out[value] ?? 0) + 1;
  return fmtCodes(out);
}

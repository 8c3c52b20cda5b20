/**
 * Resident memory of the server processes, read from `/proc/<pid>/status` (VmRSS) every few seconds: what the
 * kernel charges each process, from outside, so the measurement costs the servers nothing.
 */
import { readFileSync } from 'node:fs';

export interface RssTarget {
  name: string;
  pid: number;
  /** Whether the flatness bound applies (the app's node processes), or it is only shown (redis-server). */
  judged: boolean;
}

export interface RssSample {
  /** ms since the sampler started. */
  t: number;
  /** KiB per process name (absent when the process was gone). */
  kib: Record<string, number>;
}

/** VmRSS of `pid` in KiB, or null when the process is gone. */
export function readRssKib(pid: number): number | null {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

export class RssSampler {
  readonly samples: RssSample[] = [];
  private timer: NodeJS.Timeout | null = null;
  private startedAt = 0;

  constructor(
    readonly targets: RssTarget[],
    private readonly everyMs: number,
  ) {}

  start(): void {
    this.startedAt = Date.now();
    this.sample();
    this.timer = setInterval(() => this.sample(), this.everyMs);
  }

  /** Takes one more sample now and stops. */
  stop(): void {
    if (!this.timer) return;
    clearInterval(this.timer);
    this.timer = null;
    this.sample();
  }

  private sample(): void {
    const kib: Record<string, number> = {};
    for (const target of this.targets) {
      const value = readRssKib(target.pid);
      if (value !== null) kib[target.name] = value;
    }
    this.samples.push({ t: Date.now() - this.startedAt, kib });
  }
}

export interface RssVerdict {
  name: string;
  judged: boolean;
  /** Lowest sample of the first window (after the warm-up) and of the last window, MiB: what GC leaves. */
  firstMib: number;
  lastMib: number;
  /** Medians of the same windows, shown beside the floors (they move with where a GC cycle happens to be). */
  firstMedianMib: number;
  lastMedianMib: number;
  maxMib: number;
  /** lastMib − firstMib: the judged figure. */
  growthMib: number;
  samples: number;
  /** RSS at evenly spaced moments of the run (about `points` of them), MiB: the trend behind the two medians. */
  trend: number[];
}

const TREND_POINTS = 8;

/**
 * Growth of each process between the first window after the warm-up and the last window of the run, judged on
 * the floor of each window (its lowest sample). Under churn a node's RSS is a sawtooth: garbage piles up between
 * collections and goes, 20–50 MiB at a time, and a minute may hold a peak or not, so medians of two minutes
 * differ by more than the bound with nothing retained (seen: +12.7 MiB on a memory node whose floor stayed at
 * 120 MiB for five minutes). Memory that is kept raises the floor; garbage does not. With windows of one minute
 * this is the "growth between the first and the last minute".
 */
export function judgeRss(sampler: RssSampler, warmupMs: number, windowMs: number): RssVerdict[] {
  const { samples } = sampler;
  const end = samples.length ? samples[samples.length - 1].t : 0;
  return sampler.targets.map((target) => {
    const series = samples
      .filter((s) => s.kib[target.name] !== undefined)
      .map((s) => ({ t: s.t, mib: s.kib[target.name] / 1024 }));
    const afterWarmup = series.filter((s) => s.t >= warmupMs);
    const first = afterWarmup.filter((s) => s.t < (afterWarmup[0]?.t ?? 0) + windowMs).map((s) => s.mib);
    const last = series.filter((s) => s.t > end - windowMs).map((s) => s.mib);
    const firstMib = first.length ? Math.min(...first) : NaN;
    const lastMib = last.length ? Math.min(...last) : NaN;
    return {
      name: target.name,
      judged: target.judged,
      firstMib: round(firstMib),
      lastMib: round(lastMib),
      firstMedianMib: round(median(first)),
      lastMedianMib: round(median(last)),
      maxMib: round(Math.max(...series.map((s) => s.mib))),
      growthMib: round(lastMib - firstMib),
      samples: series.length,
      trend: trendOf(series.map((s) => s.mib)),
    };
  });
}

function trendOf(values: number[]): number[] {
  const count = Math.min(TREND_POINTS, values.length);
  return Array.from({ length: count }, (_, i) => round(values[Math.round((i * (values.length - 1)) / Math.max(1, count - 1))]));
}

function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}

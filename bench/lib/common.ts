/** Small helpers shared by the orchestrator, the servers and the load generators. */
import { performance } from 'node:perf_hooks';

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes of one machine. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/** The group every client joins (the burst and broadcast target). */
export const ALL_GROUP = 'all';

/** The uid of client number `n`. */
export function uidOf(n: number): string {
  return `u${n}`;
}

/** The two groups a client is in: everybody's group, and one of two halves. */
export function groupsOf(uid: string): string[] {
  const n = Number(uid.slice(1));
  return [ALL_GROUP, `half-${Number.isFinite(n) ? n % 2 : 0}`];
}

/** Group `k` of the cluster scenario's spread variant (the clients split over G of them). */
export function spreadGroupOf(k: number): string {
  return `spread-${k}`;
}

/** The spread group client `uid` joins when the clients are split over `groups` groups (by uid number, mod G). */
export function spreadGroupFor(uid: string, groups: number): string {
  const n = Number(uid.slice(1));
  return spreadGroupOf(Number.isFinite(n) ? n % groups : 0);
}

/** Group `k` of the resume storm (each client is in one of G of them, by uid number mod G). */
export function stormGroupOf(k: number): string {
  return `storm-${k}`;
}

/** The storm group client `uid` joins when the clients are split over `groups` groups. */
export function stormGroupFor(uid: string, groups: number): string {
  const n = Number(uid.slice(1));
  return stormGroupOf(Number.isFinite(n) ? n % groups : 0);
}

/**
 * A message of the resume storm's stream: the target it was sent to (a uid or a storm group) and its number in that
 * target's sequence (1, 2, 3…), with its send time.
 */
export type StormMessage = {
  to: string;
  seq: number;
  t: number;
};

/**
 * What the push-only node's storm stream did (`streamStop`): messages sent and accepted (`delivered + held > 0`), the
 * deliveries and holds they reported, the longest send, each target's last number, the numbers refused per target,
 * and a few refusals as samples.
 */
export interface StreamResult {
  sent: number;
  accepted: number;
  delivered: number;
  held: number;
  heldMessages: number;
  maxSendMs: number;
  seconds: number;
  last: Record<string, number>;
  rejected: Record<string, number[]>;
  samples: string[];
}

/**
 * A bench message of about `bytes` bytes once serialised: `{"type":"bench","seq":…,"t":…,"pad":"xxx…"}`.
 * `t` is the send time (`nowMs()`), from which the clients compute latency.
 */
export function benchMessage(seq: number, t: number, bytes: number): { type: string; seq: number; t: number; pad: string } {
  const base = JSON.stringify({ type: 'bench', seq, t, pad: '' }).length;
  return { type: 'bench', seq, t, pad: 'x'.repeat(Math.max(0, bytes - base)) };
}

/** Runs `fn` over `items` with at most `concurrency` in flight. */
export async function pool<T>(items: T[], concurrency: number, fn: (item: T, index: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      await fn(items[index], index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Rejects with `message` if `promise` has not settled within `ms`. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timeout after ${ms} ms: ${message}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `check` every `everyMs` until it returns true; fails after `timeoutMs` with `message` and the last value. */
export async function pollUntil(
  check: () => Promise<{ ok: boolean; state: unknown }>,
  timeoutMs: number,
  message: string,
  everyMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    const { ok, state } = await check();
    last = state;
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`timeout after ${timeoutMs} ms: ${message} (last state: ${JSON.stringify(last)})`);
    await sleep(everyMs);
  }
}

/** Nearest-rank percentile of an ascending-sorted array (p in 0..100). */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/** Median of the finite numbers in `values` (NaN when there is none). */
export function median(values: (number | null | undefined)[]): number {
  const finite = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b);
  if (finite.length === 0) return NaN;
  const mid = finite.length >> 1;
  return finite.length % 2 ? finite[mid] : (finite[mid - 1] + finite[mid]) / 2;
}

/** Parses `--key=value` / `--flag` arguments. */
export function parseArgs(argv: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const arg of argv) {
    const match = /^--([^=]+)(?:=(.*))?$/.exec(arg);
    if (!match) throw new Error(`unexpected argument "${arg}" (expected --key=value or --flag)`);
    out[match[1]] = match[2] ?? 'true';
  }
  return out;
}

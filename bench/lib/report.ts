/** Tables on stdout and the results file (`bench/results/results.jsonl`, one JSON line per scenario per run). */
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync } from 'node:fs';
import * as os from 'node:os';
import { dirname, resolve } from 'node:path';
import { median } from './common';

/** The repository root (this file is dist-bench/bench/lib/report.js). */
export const REPO_ROOT = resolve(__dirname, '..', '..', '..');
export const DEFAULT_RESULTS = resolve(REPO_ROOT, 'bench', 'results', 'results.jsonl');

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  node: string;
  os: string;
  totalMemGiB: number;
  fdLimit: string;
}

export function machineInfo(): MachineInfo {
  let fdLimit = 'unknown';
  try {
    fdLimit = execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim();
  } catch {
    // keep unknown
  }
  return {
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    cores: os.cpus().length,
    node: process.version,
    os: `${os.type()} ${os.release()}`,
    totalMemGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    fdLimit,
  };
}

export interface GitInfo {
  commit: string;
  /** Files of libs/ and src/ that differ from the commit (the engineer optimising may run on a dirty tree). */
  dirty: string[];
}

export function gitInfo(): GitInfo {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
  try {
    const dirty = git('status', '--porcelain', '--', 'libs', 'src')
      .split('\n')
      .filter(Boolean)
      .map((line) => line.slice(3));
    return { commit: git('rev-parse', '--short=12', 'HEAD'), dirty };
  } catch {
    return { commit: 'unknown', dirty: [] };
  }
}

export function appendResult(path: string, line: Record<string, unknown>): void {
  mkdirSync(dirname(path), { recursive: true });
  appendFileSync(path, `${JSON.stringify(line)}\n`);
}

// ---- tables ----------------------------------------------------------------------------------------------------

export interface MetricSpec {
  key: string;
  label: string;
  better: 'higher' | 'lower';
  format: (value: number) => string;
}

export const fmt = {
  int: (v: number) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '—'),
  fixed: (digits: number) => (v: number) => (Number.isFinite(v) ? v.toFixed(digits) : '—'),
  ratio: (v: number) => (Number.isFinite(v) ? `${v >= 10 ? v.toFixed(1) : v.toFixed(2)}×` : '—'),
};

/** How many times better `ours` is than `ref`: ours/ref when higher is better, ref/ours when lower is better. */
export function advantage(spec: MetricSpec, ours: number, ref: number): number {
  if (!Number.isFinite(ours) || !Number.isFinite(ref) || ours <= 0 || ref <= 0) return NaN;
  return spec.better === 'higher' ? ours / ref : ref / ours;
}

export function renderTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** Per kind, per metric: every run's value. */
export type RunsByKind<K extends string> = Partial<Record<K, Record<string, number>[]>>;

export interface Comparison {
  medians: Record<string, Record<string, number>>;
  ratios: Record<string, Record<string, number>>;
  table: string;
}

/**
 * Medians of each metric per server, and the table: one row per metric, one column per server, then one
 * "vs <reference>" column per reference (how many times better ours is; >1 = ours better). With `pairs`, one
 * "<a> vs <b>" column per pair instead (several servers of ours against the references), keyed `<a>_vs_<b>`
 * except for pairs of `ours` itself, which keep the `vs_<b>` keys of earlier result lines.
 */
export function compare<K extends string>(
  specs: MetricSpec[],
  runs: RunsByKind<K>,
  kinds: readonly K[],
  labels: Record<K, string>,
  ours: K,
  pairs?: readonly (readonly [K, K])[],
): Comparison {
  const medians: Record<string, Record<string, number>> = {};
  for (const kind of kinds) {
    medians[kind] = {};
    for (const spec of specs) medians[kind][spec.key] = median((runs[kind] ?? []).map((r) => r[spec.key]));
  }
  const columns = pairs ?? kinds.filter((k) => k !== ours).map((ref) => [ours, ref] as const);
  const ratios: Record<string, Record<string, number>> = {};
  const rows = specs.map((spec) => {
    ratios[spec.key] = {};
    const cells = [spec.label, ...kinds.map((kind) => spec.format(medians[kind][spec.key]))];
    for (const [a, b] of columns) {
      const value = advantage(spec, medians[a][spec.key], medians[b][spec.key]);
      ratios[spec.key][a === ours ? `vs_${b}` : `${a}_vs_${b}`] = value;
      cells.push(fmt.ratio(value));
    }
    return cells;
  });
  const header = [
    'metric',
    ...kinds.map((k) => labels[k]),
    ...columns.map(([a, b]) => (pairs ? `${labels[a]} vs ${labels[b]}` : `vs ${labels[b]}`)),
  ];
  return { medians, ratios, table: renderTable(header, rows) };
}

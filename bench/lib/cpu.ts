/**
 * CPU accounting from /proc, to tell whether a measurement ran on a quiet machine: how many cores *other*
 * processes (another test run, a build) used while a session ran. Linux only; NaN elsewhere.
 */
import { readFileSync } from 'node:fs';
import * as os from 'node:os';

/** USER_HZ: the unit of /proc/stat and /proc/<pid>/stat times (100 on every Linux this runs on). */
const TICKS_PER_SECOND = 100;

/** Busy and total ticks of the whole machine (all cores) from /proc/stat. */
export function machineTicks(): { busy: number; total: number } | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
    const fields = line.trim().split(/\s+/).slice(1).map(Number);
    const idle = fields[3] + (fields[4] ?? 0);
    const total = fields.reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
  } catch {
    return null;
  }
}

/** utime + stime of one process, in ticks (NaN when it is gone). */
export function processTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return NaN;
  }
}

/**
 * cutime + cstime of this process, in ticks: the CPU of its children that exited and were reaped (a server stopped on
 * purpose during a session, whose /proc entry is gone by the time the session's load is computed).
 */
export function reapedChildrenTicks(): number {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[13]) + Number(fields[14]);
  } catch {
    return NaN;
  }
}

/** Cores the machine used over a window, and how many of them were ours. */
export class ForeignLoad {
  private readonly machine0 = machineTicks();
  private readonly self0 = process.cpuUsage();
  private readonly reaped0 = reapedChildrenTicks();

  /**
   * Average cores used by processes other than this one and `pids` (children started after this object, so
   * their whole CPU time falls in the window) since construction. Children that exited meanwhile (started after
   * this object too) count through this process's reaped-children time.
   */
  cores(pids: number[]): number {
    const machine1 = machineTicks();
    if (!this.machine0 || !machine1 || machine1.total === this.machine0.total) return NaN;
    const self = process.cpuUsage(this.self0);
    let ours = ((self.user + self.system) / 1e6) * TICKS_PER_SECOND;
    for (const pid of pids) {
      const ticks = processTicks(pid);
      if (Number.isFinite(ticks)) ours += ticks;
    }
    const reaped = reapedChildrenTicks() - this.reaped0;
    if (Number.isFinite(reaped)) ours += reaped;
    const cores = os.cpus().length;
    const windowTicksPerCore = (machine1.total - this.machine0.total) / cores;
    const busyCores = (machine1.busy - this.machine0.busy) / windowTicksPerCore;
    return Math.max(0, busyCores - ours / windowTicksPerCore);
  }
}

/** Cores other processes use while the bench is idle, sampled over `ms`. */
export async function backgroundLoad(ms = 1000): Promise<number> {
  const window = new ForeignLoad();
  await new Promise((resolve) => setTimeout(resolve, ms));
  return window.cores([]);
}

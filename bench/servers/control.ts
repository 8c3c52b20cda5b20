/**
 * The control channel every bench server exposes to the orchestrator over IPC, identical for our module, the
 * bare ws server and socket.io, so the orchestrator drives all three the same way:
 *
 * | command        | args                       | result                                                          |
 * |----------------|----------------------------|-----------------------------------------------------------------|
 * | `clients`      | —                          | connections this process holds (registered, init sent)          |
 * | `bindAll`      | `{concurrency, spreadGroups?, stormGroups?}` | binds every connection to the uid of its `?uid=` query and joins `groupsOf(uid)` (ours, with `spreadGroups` G: also `spread-<uid number mod G>`; with `stormGroups` G: only `storm-<uid number mod G>` instead); → number bound |
 * | `groupCount`   | `{group}`                  | members of a group as the server (or the cluster) sees them     |
 * | `send`         | `{group, groups?, count, bytes}` | `count` group sends back to back (one = the broadcast); ours, with `groups`: `count` rounds of one send to each of `groups`; → `{t0, issuedMs, delivered}` |
 * | `memory`       | —                          | `process.memoryUsage()` after `global.gc()` (servers run with `--expose-gc`) |
 * | `measureStart` | `{stall}`                  | starts a `process.cpuUsage()` window and, with `stall`, a 1 ms ticker |
 * | `measureStop`  | —                          | `{cpuUserUs, cpuSystemUs, wallMs, maxGapMs, eldMaxMs}`          |
 *
 * Ours also answers `resumeStats`, `streamStart` and `streamStop` (the resume storm, see `ours.ts`), and stops
 * gracefully on SIGTERM.
 *
 * and an unsolicited `ready` event `{port, pid}` once it listens.
 */
import { monitorEventLoopDelay, performance, type IntervalHistogram } from 'node:perf_hooks';
import { dieOnUncaught, emit, serve, type Handler } from '../lib/ipc';

export interface MeasureResult {
  cpuUserUs: number;
  cpuSystemUs: number;
  wallMs: number;
  /** Longest gap between two ticks of a 1 ms interval timer (≈ the longest event-loop stall), ms. */
  maxGapMs: number;
  /** `monitorEventLoopDelay` max over the window, ms. */
  eldMaxMs: number;
}

export interface SendResult {
  /** `nowMs()` just before the first send. */
  t0: number;
  /** Time spent issuing the sends (until the last one returned / resolved), ms. */
  issuedMs: number;
  /** Deliveries the server reports (our module's count; the references count members). */
  delivered: number;
}

/** Everything a server kind must implement besides the common commands. */
export interface ServerHandlers {
  clients: () => number | Promise<number>;
  bindAll?: (args: { concurrency?: number; spreadGroups?: number; stormGroups?: number }) => Promise<number> | number;
  groupCount?: (args: { group: string }) => Promise<number> | number;
  send?: (args: { group: string; groups?: string[]; count: number; bytes: number }) => Promise<SendResult> | SendResult;
  [extra: string]: Handler | undefined;
}

export function startControl(name: string, handlers: ServerHandlers): void {
  dieOnUncaught(name);
  let cpu0: NodeJS.CpuUsage | null = null;
  let wall0 = 0;
  let ticker: NodeJS.Timeout | null = null;
  let maxGap = 0;
  let eld: IntervalHistogram | null = null;

  const common: Record<string, Handler> = {
    ping: () => 'pong',
    memory: async () => {
      const gc = (globalThis as { gc?: () => void }).gc;
      if (!gc) throw new Error(`${name} was not started with --expose-gc`);
      for (let i = 0; i < 3; i++) {
        gc();
        await new Promise((resolve) => setImmediate(resolve));
      }
      return process.memoryUsage();
    },
    measureStart: ({ stall }: { stall?: boolean }) => {
      if (ticker) clearInterval(ticker);
      maxGap = 0;
      if (stall) {
        let last = performance.now();
        ticker = setInterval(() => {
          const now = performance.now();
          if (now - last > maxGap) maxGap = now - last;
          last = now;
        }, 1);
        eld = monitorEventLoopDelay({ resolution: 1 });
        eld.enable();
      }
      wall0 = performance.now();
      cpu0 = process.cpuUsage();
      return null;
    },
    measureStop: (): MeasureResult => {
      if (!cpu0) throw new Error('measureStop without measureStart');
      const cpu = process.cpuUsage(cpu0);
      const wallMs = performance.now() - wall0;
      cpu0 = null;
      if (ticker) clearInterval(ticker);
      ticker = null;
      let eldMaxMs = NaN;
      if (eld) {
        eld.disable();
        eldMaxMs = eld.max / 1e6;
        eld = null;
      }
      return { cpuUserUs: cpu.user, cpuSystemUs: cpu.system, wallMs, maxGapMs: maxGap, eldMaxMs };
    },
  };
  serve({ ...common, ...(handlers as Record<string, Handler>) });
}

/** Tells the orchestrator the server listens. */
export function announceReady(port: number): void {
  emit('ready', { port, pid: process.pid });
}

/**
 * Burst fan-out with recovery on vs off (issue 10): the burst of the fan-out session (N clients in group `all`,
 * `sends` group sends back to back, memory engine), on our server, twice per repeat:
 *   - `on`: the module's default (resume on), clients on the resumable protocol: every send is recorded in the
 *     group's history and reaches them in an envelope (`{"type":"msg","key":"g:all","off":…,"json":1}\n<payload>`);
 *   - `off`: `resume: false`, plain clients (the init frame, then the app's messages as they are).
 * The two sessions alternate their order from one repeat to the next (on first in repeats 1, 3, …), so a machine
 * that warms up or cools down favours neither. Every client checks it gets every message once and in order.
 */
import type { BenchConfig } from './config';
import { runFanout, type BurstFigures } from './fanout';

export const RECOVERY_MODES = ['on', 'off'] as const;
export type RecoveryMode = (typeof RECOVERY_MODES)[number];

export interface RecoveryFigures {
  /** The larger of the two sessions' foreign load. */
  foreignCores: number;
  on: BurstFigures & { foreignCores: number };
  off: BurstFigures & { foreignCores: number };
  /** Which session ran first in this repeat. */
  first: RecoveryMode;
  /** on ÷ off deliveries/s (≥ 0.8 is the target), and off ÷ on CPU per delivery (how many times cheaper on is). */
  ratios: { deliveriesPerSec: number; cpuUsPerDelivery: number };
}

export async function runRecovery(config: BenchConfig, rep: number): Promise<RecoveryFigures> {
  const burstOnly = { memory: false, broadcast: false, burst: true };
  const run = async (mode: RecoveryMode) => {
    const figures =
      mode === 'on'
        ? await runFanout(config, 'ours', burstOnly, { clients: 'resume' })
        : await runFanout(config, 'ours', burstOnly, { options: { resume: false } });
    return { ...figures.burst!, foreignCores: figures.foreignCores };
  };
  const first: RecoveryMode = rep % 2 === 0 ? 'on' : 'off';
  const results: Partial<Record<RecoveryMode, BurstFigures & { foreignCores: number }>> = {};
  for (const mode of first === 'on' ? RECOVERY_MODES : ([...RECOVERY_MODES].reverse() as RecoveryMode[])) {
    results[mode] = await run(mode);
  }
  const on = results.on!;
  const off = results.off!;
  return {
    foreignCores: Math.max(on.foreignCores, off.foreignCores),
    on,
    off,
    first,
    ratios: {
      deliveriesPerSec: on.deliveriesPerSec / off.deliveriesPerSec,
      cpuUsPerDelivery: off.cpuUsPerDelivery / on.cpuUsPerDelivery,
    },
  };
}

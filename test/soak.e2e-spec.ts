import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { formatReport } from '../soak/report.table';
import { runSoak } from '../soak/run-soak';
import { soakOptions, type SoakEngine } from '../soak/soak.options';

/*
 * The 20-second version of the churn soak (issue 7; `npm run soak -- --minutes=N` is the long one): 10 s of load
 * on each engine against the example app as real processes (one node on memory; on Redis two gateway nodes and a
 * push-only node through which every push and /stats goes). ~150 churn sockets/s that log in, bind, join and drop
 * (half close(1000), half terminate(); a tenth close while their bind or join is in flight), 50 watchers receiving
 * 50 numbered pushes/s, a 3 s / 7.5 s heartbeat (see soak.options.ts for why not shorter). Every push must arrive
 * exactly once and in order, no healthy socket may be cut, the index (and on Redis its keys and subscriptions) must
 * come back to the watchers alone, and the servers' RSS must stay flat (a loose bound at this length).
 */

const ROOT = resolve(__dirname, '..');
const PER_ENGINE_MS = 10_000;
/** Hard bound of one run, setup and checks included (a run takes ~16 s here); the test allows a little more. */
const BUDGET_MS = 90_000;

const run = promisify(execFile);

/** Compiles `project` with `command`; a failure carries the compiler's output. */
async function build(what: string, command: string, args: string[]): Promise<void> {
  try {
    await run(command, args, { cwd: ROOT, timeout: 120_000 });
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${what} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

describe('churn soak (20 s: 10 s per engine)', () => {
  beforeAll(async () => {
    // Never a stale build: the app exactly as `npm start` runs it, and the soak's worker processes, which are
    // forked from compiled JavaScript (the orchestrator itself runs here, from the sources).
    await Promise.all([
      build('nest build', process.execPath, [resolve(ROOT, 'node_modules/@nestjs/cli/bin/nest.js'), 'build']),
      build('tsc -p soak/tsconfig.json', process.execPath, [
        resolve(ROOT, 'node_modules/typescript/bin/tsc'),
        '-p',
        'soak/tsconfig.json',
      ]),
    ]);
  }, 180_000);

  it.each<SoakEngine>(['memory', 'redis'])(
    '%s engine: every push once and in order, nobody healthy cut, index back to the watchers, RSS flat',
    async (engine) => {
      const progress: string[] = [];
      const report = await runSoak(
        soakOptions(engine, PER_ENGINE_MS, { budgetMs: BUDGET_MS, log: (line) => progress.push(line) }),
      );
      if (report.failures.length) {
        throw new Error(`${formatReport(report)}\n--- progress ---\n${progress.join('\n')}`);
      }
      expect(report.failures).toEqual([]);
    },
    BUDGET_MS + 30_000,
  );
});

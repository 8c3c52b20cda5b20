import { Resync } from './resync';

/** A run the test finishes by hand, so overlaps are exact, not timed. */
function gate() {
  let open!: () => void;
  let fail!: (error: Error) => void;
  const promise = new Promise<void>((resolve, reject) => {
    open = resolve;
    fail = reject;
  });
  return { promise, open, fail };
}

describe('Resync', () => {
  it('schedule() while running runs exactly once more, however many triggers arrived', async () => {
    const gates = [gate(), gate(), gate()];
    const reasons: string[] = [];
    const resync = new Resync(async (reason) => {
      reasons.push(reason);
      await gates[reasons.length - 1].promise;
    }, () => undefined);

    resync.schedule('first');
    for (let i = 0; i < 5; i++) resync.schedule(`again ${i}`);
    expect(reasons).toEqual(['first']);
    const first = resync.inProgress!;
    gates[0].open();
    await first;
    await Promise.resolve();
    expect(reasons).toHaveLength(2);
    const second = resync.inProgress!;
    expect(second).not.toBeNull();
    gates[1].open();
    await second;
    await Promise.resolve();
    expect(reasons).toHaveLength(2);
    expect(resync.inProgress).toBeNull();
    expect(resync.isOwed).toBe(false);
  });

  it('a failing run leaves the resync owed and is counted', async () => {
    const failures: unknown[] = [];
    const boom = new Error('redis down');
    const resync = new Resync(() => Promise.reject(boom), (error) => failures.push(error));
    resync.schedule('test');
    await resync.inProgress;
    expect(failures).toEqual([boom]);
    expect(resync.isOwed).toBe(true);
  });

  it('a successful run clears owed', async () => {
    const resync = new Resync(() => Promise.resolve(), () => undefined);
    resync.owe();
    expect(resync.isOwed).toBe(true);
    resync.schedule('test');
    await resync.inProgress;
    expect(resync.isOwed).toBe(false);
  });

  it('stop() prevents new runs and the queued re-run', async () => {
    const g = gate();
    let runs = 0;
    const resync = new Resync(async () => {
      runs++;
      await g.promise;
    }, () => undefined);
    resync.schedule('a');
    resync.schedule('b'); // queued
    resync.stop();
    const running = resync.inProgress!;
    g.open();
    await running;
    await Promise.resolve();
    resync.schedule('c');
    expect(runs).toBe(1);
    expect(resync.inProgress).toBeNull();
  });

  it('owe() without schedule does not run', async () => {
    let runs = 0;
    const resync = new Resync(async () => void runs++, () => undefined);
    resync.owe();
    await new Promise((resolve) => setImmediate(resolve));
    expect(runs).toBe(0);
    expect(resync.inProgress).toBeNull();
    expect(resync.isOwed).toBe(true);
  });
});

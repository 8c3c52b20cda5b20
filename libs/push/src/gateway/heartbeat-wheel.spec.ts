import { HeartbeatWheel } from './heartbeat-wheel';

describe('HeartbeatWheel', () => {
  it('visits every entry exactly once per turn, in slices', () => {
    const wheel = new HeartbeatWheel<number>(4);
    for (let i = 0; i < 10; i++) wheel.add(i);
    const seen: number[] = [];
    const perTick: number[] = [];
    for (let t = 0; t < 4; t++) {
      const before = seen.length;
      wheel.tick((n) => seen.push(n));
      perTick.push(seen.length - before);
    }
    expect(seen.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(Math.max(...perTick) - Math.min(...perTick)).toBeLessThanOrEqual(1);
  });

  it('still visits the old entries once per turn while newcomers arrive and leave faster than it turns', () => {
    const slices = 10;
    const wheel = new HeartbeatWheel<string>(slices);
    const old = Array.from({ length: 50 }, (_, i) => `old-${i}`);
    old.forEach((entry) => wheel.add(entry));
    const lastVisit = new Map<string, number>();
    const churn: string[] = [];
    let serial = 0;
    for (let tick = 0; tick < slices * 20; tick++) {
      // 30 newcomers per tick, and the oldest newcomers leave: far more churn than the wheel's size per turn.
      for (let i = 0; i < 30; i++) {
        const entry = `new-${serial++}`;
        churn.push(entry);
        wheel.add(entry);
      }
      while (churn.length > 300) wheel.delete(churn.shift()!);
      wheel.tick((entry) => lastVisit.set(entry, tick));
      if (tick >= slices) {
        for (const entry of old) expect(tick - lastVisit.get(entry)!).toBeLessThan(slices);
      }
    }
    expect(wheel.size).toBe(old.length + 300);
  });

  it('lets the visitor delete entries, and forgets deleted ones', () => {
    const wheel = new HeartbeatWheel<number>(1);
    [1, 2, 3].forEach((n) => wheel.add(n));
    wheel.tick((n) => wheel.delete(n));
    expect(wheel.size).toBe(0);
    const seen: number[] = [];
    wheel.tick((n) => seen.push(n));
    expect(seen).toEqual([]);
  });
});

import WebSocket from 'ws';
import { startApp, TestApp } from './support/test-app';
import { TestClient } from './support/test-client';
import { eventually } from './support/wait';

/**
 * Issue 7 #1: the heartbeat cut healthy clients under churn. The sweep walked one Map iterator over every
 * connection; a Map iterator also sees entries added after it started, so with sockets arriving faster than the
 * sweep advanced it kept meeting newcomers and never got back to the old ones. Those were never pinged, and were
 * cut with 1006 (bindings gone) as soon as the sweep did get back to them. Every open connection must be visited
 * once per interval, however fast others come and go; a client that answers pings (ws does on its own) is never cut.
 */
describe('heartbeat under connection churn (#1)', () => {
  const INTERVAL = 400;
  const TIMEOUT = Math.round(INTERVAL * 2.4);
  const WATCHERS = 50;
  /**
   * New sockets per second, each kept open CHURN_LIFE ms after its init frame. The old sweep stays trapped among
   * the newcomers when more arrive per interval than it visits: rate x (interval - life) > watchers.
   */
  const CHURN_RATE = 500;
  const CHURN_LIFE = 100;
  /** Three timeouts of churn: long enough for an unvisited watcher to pass the timeout twice over. */
  const CHURN_MS = 3 * TIMEOUT;

  let t: TestApp;
  const watchers: TestClient[] = [];

  beforeAll(async () => {
    t = await startApp({ heartbeat: { interval: INTERVAL, timeout: TIMEOUT } });
  });
  afterAll(async () => {
    await t.disconnect(watchers.filter((w) => w.socket.readyState === WebSocket.OPEN));
    await t.close();
  });

  /** Opens sockets at `rate` per second for `ms`, each closed CHURN_LIFE ms after its init frame; resolves once all closed. */
  async function churn(rate: number, ms: number): Promise<{ opened: number; refused: number }> {
    const stats = { opened: 0, refused: 0 };
    const closed: Promise<void>[] = [];
    const perTick = Math.max(1, Math.round(rate / 100));
    const started = Date.now();
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        // Catch up after a late timer, so the rate holds even when the loop is busy.
        const due = Math.min(perTick * 5, Math.round(((Date.now() - started) * rate) / 1000) - stats.opened);
        for (let i = 0; i < due; i++) {
          const ws = new WebSocket(t.wsUrl);
          stats.opened++;
          ws.once('message', () => setTimeout(() => ws.close(), CHURN_LIFE));
          ws.on('error', () => stats.refused++);
          closed.push(new Promise((done) => ws.once('close', () => done())));
        }
        if (Date.now() - started >= ms) {
          clearInterval(timer);
          resolve();
        }
      }, 10);
    });
    await Promise.all(closed);
    return stats;
  }

  it('visits every watcher once per interval while sockets come and go, and never cuts one', async () => {
    for (let i = 0; i < WATCHERS; i++) {
      const w = await TestClient.connect(t.wsUrl);
      await t.push.bindUid(w.clientId, `watcher-${i}`);
      await t.push.joinGroup(w.clientId, 'watchers');
      watchers.push(w);
    }
    const pings = watchers.map(() => [] as number[]);
    watchers.forEach((w, i) => w.socket.on('ping', () => pings[i].push(Date.now())));
    const cut: { clientId: string; code: number; reason: string }[] = [];
    const ids = new Set(watchers.map((w) => w.clientId));
    const sub = t.events.close$.subscribe((e) => {
      if (ids.has(e.clientId)) cut.push({ clientId: e.clientId, code: e.code, reason: e.reason });
    });
    const timeoutsBefore = t.push.getMetrics().heartbeatTimeouts;

    const churnStart = Date.now();
    const stats = await churn(CHURN_RATE, CHURN_MS);
    const churnEnd = Date.now();

    // Let the sweep get round to every watcher once more after the churn: a ping (visited, kept) or a close
    // (visited, cut). On the old code this is when the unvisited watchers are found stale and cut.
    await eventually(
      () => watchers.every((w, i) => w.socket.readyState !== WebSocket.OPEN || pings[i].some((at) => at > churnEnd)),
      5 * TIMEOUT + 5000,
    );
    sub.unsubscribe();

    // Longest silence (no ping) each watcher saw during the churn.
    const gaps = pings.map((list) => {
      const times = [churnStart, ...list.filter((at) => at >= churnStart && at <= churnEnd), churnEnd];
      let gap = 0;
      for (let k = 1; k < times.length; k++) gap = Math.max(gap, times[k] - times[k - 1]);
      return gap;
    });
    const context = { churn: stats, churnMs: churnEnd - churnStart, longestPingGap: Math.max(...gaps) };

    const cutSummary = { count: cut.length, how: [...new Set(cut.map((c) => `${c.code} ${c.reason}`))] };
    expect({ ...context, cut: cutSummary }).toEqual({ ...context, cut: { count: 0, how: [] } });
    expect(t.push.getMetrics().heartbeatTimeouts).toBe(timeoutsBefore);
    expect(watchers.every((w) => w.socket.readyState === WebSocket.OPEN)).toBe(true);
    // Every watcher was pinged within each timeout window of the churn (visited once per interval, with slack).
    expect(gaps.filter((gap) => gap >= TIMEOUT)).toEqual([]);
    // Bindings intact and still served.
    const bound = await t.push.batchGetClientIdByUid(watchers.map((_, i) => `watcher-${i}`));
    expect(Object.values(bound)).toEqual(watchers.map((w) => [w.clientId]));
    expect(await t.push.getClientIdCountByGroup('watchers')).toBe(WATCHERS);
    expect(await t.push.sendToGroup('watchers', 'still here')).toBe(WATCHERS);
    for (const w of watchers) expect(await w.next()).toBe('still here');
  });
});

/**
 * After a stall the heartbeat's late timer catches up on the slots it missed, so some connections are pinged late
 * and then, one interval later, on time. A rule that skipped a ping sent less than `interval - tick` ago made that
 * punctual visit skip, and the gap between two pings grew to nearly two intervals. Every visit pings (unless the
 * last ping is under half an interval old), so the gap stays about an interval plus the stall.
 */
describe('heartbeat after event-loop stalls', () => {
  const INTERVAL = 1000;
  const STALL = 200;
  let t: TestApp;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    t = await startApp({ heartbeat: { interval: INTERVAL, timeout: Math.round(INTERVAL * 2.4) } });
  });
  afterAll(async () => {
    await t.disconnect(clients.filter((c) => c.socket.readyState === WebSocket.OPEN));
    await t.close();
  });

  it('keeps the gap between two pings near one interval when visits come late', async () => {
    for (let i = 0; i < 20; i++) clients.push(await TestClient.connect(t.wsUrl));
    const pings = clients.map(() => [] as number[]);
    clients.forEach((c, i) => c.socket.on('ping', () => pings[i].push(Date.now())));
    // Stall the event loop for STALL ms every 700 ms (out of step with the interval), for a few intervals.
    const stalls = setInterval(() => {
      const end = Date.now() + STALL;
      while (Date.now() < end);
    }, 700);
    const start = Date.now();
    await eventually(() => Date.now() - start > 6 * INTERVAL, 10 * INTERVAL);
    clearInterval(stalls);
    const gaps = pings.flatMap((list) => list.slice(1).map((at, k) => at - list[k]));
    expect(pings.every((list) => list.length >= 4)).toBe(true);
    // Late ping + punctual ping: about INTERVAL + STALL at most (plus the stall that may delay its receipt here);
    // the skipped visit gave 2 x INTERVAL - lateness, over 1.8 x INTERVAL. The bound sits just under that, not at
    // 1.4 x, because a loaded CI machine adds its own scheduling delay (1.635 x seen with load 5 on 2 cores).
    expect(Math.max(...gaps)).toBeLessThan(1.75 * INTERVAL);
  });
});

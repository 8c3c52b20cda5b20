import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { PushClientNotFoundError, PushEngineUnavailableError, RedisKeys } from 'nest-push-channel';
import { RedisServer } from './support/redis-server';
import { TcpProxy, type ProxyConnection } from './support/tcp-proxy';
import { startApp, TestApp } from './support/test-app';
import { TestClient } from './support/test-client';
import { eventually } from './support/wait';

/**
 * Issue 7, Redis engine defects (#2, #15, #3, #4, #5, #8, #10), each reproduced on a real redis-server (and, where
 * the network has to misbehave, a TCP proxy in front of it that the test controls) with in-process nodes.
 */

let redis: RedisServer;
let admin: Redis;

beforeAll(async () => {
  redis = await RedisServer.start();
  admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
});
afterAll(async () => {
  admin.disconnect();
  await redis.close();
});

const uniquePrefix = (name: string) => `${name}-${randomBytes(3).toString('hex')}:`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** How a call ended: 'ok' (or 'ok <value>'), or the error's class name. */
async function outcome(call: () => Promise<unknown>): Promise<string> {
  try {
    const value = await call();
    return value === undefined ? 'ok' : `ok ${JSON.stringify(value)}`;
  } catch (error) {
    return (error as Error).constructor.name;
  }
}

/** Consumes frames until one equals `frame`; rejects when none does within `ms`. */
async function until(client: TestClient, frame: unknown, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const got = await client.next(Math.max(1, deadline - Date.now()));
    if (JSON.stringify(got) === JSON.stringify(frame)) return;
  }
}

/** Channels Redis has subscribers for whose name contains `fragment` (whatever the engine's channel naming). */
async function channelsWith(fragment: string): Promise<string[]> {
  return (await admin.call('PUBSUB', 'CHANNELS', `*${fragment}*`)) as string[];
}

/** `metrics.subscriberResets` (new with the #2 fix: 0 when the engine does not count it). */
function subscriberResets(app: TestApp): number {
  return (app.push.getMetrics() as unknown as { subscriberResets?: number }).subscriberResets ?? 0;
}

/** Cuts these clients and waits until their node has processed every close (as `TestApp.disconnect` does). */
async function closeAll(app: TestApp, clients: TestClient[]): Promise<void> {
  const open = clients.filter((c) => c.socket.readyState !== c.socket.CLOSED);
  const waiting = new Set(open.map((c) => c.clientId));
  const processed = new Promise<void>((resolve) => {
    if (waiting.size === 0) return resolve();
    const watch = app.events.close$.subscribe((e) => {
      waiting.delete(e.clientId);
      if (waiting.size > 0) return;
      watch.unsubscribe();
      resolve();
    });
  });
  for (const c of open) c.socket.terminate();
  await within(processed, 10_000, undefined);
}

/** `promise`'s value, or `fallback` after `ms` (the timer does not outlive the race). */
async function within<T>(promise: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<T>((resolve) => (timer = setTimeout(() => resolve(fallback), ms)));
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

// ---- #2 ---------------------------------------------------------------------------------------------------------

describe('#2 a node whose subscriber is silently partitioned', () => {
  const reapInterval = 250; // nodeTtl 1000 / 4
  let proxy: TcpProxy;
  let a: TestApp;
  let b: TestApp;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    proxy = await TcpProxy.start(redis.port);
    const engine = { type: 'redis' as const, prefix: uniquePrefix('p2'), nodeTtl: 1000, requestTimeout: 500 };
    a = await startApp({ engine: { ...engine, url: proxy.url } }); // A reaches Redis through the proxy
    b = await startApp({ engine: { ...engine, url: redis.url } });
  });
  afterAll(async () => {
    await closeAll(a, clients);
    await a.close();
    await b.close();
    await proxy.close();
  });

  it('notices it within 3 x reapInterval, recovers, and no push counted after that is lost', async () => {
    const c = await TestClient.connect(a.wsUrl);
    clients.push(c);
    await b.push.bindUid(c.clientId, 'partitioned');
    expect(await b.push.sendToUid('partitioned', 'before')).toBe(1);
    expect(await c.next()).toBe('before');
    const resyncsBefore = a.push.getMetrics().engineResyncs;
    const resets = () => subscriberResets(a);

    // A's subscriber connection goes half-open: nothing passes, nobody is told. Its command connection still works.
    const sub = await proxy.waitFor((conn) => conn.subscriber);
    sub.blackhole();
    const partitionedAt = Date.now();

    // B keeps pushing to the uid held on A and records what it was told.
    const sends: { n: number; count: number; afterDetection: boolean }[] = [];
    let detectedAt: number | null = null;
    const got = (n: number) => c.received.some((f) => (f as { n?: number })?.n === n);
    for (let n = 0; Date.now() - partitionedAt < 5000; n++) {
      if (detectedAt === null && resets() >= 1) detectedAt = Date.now();
      const afterDetection = detectedAt !== null;
      const count = await b.push.sendToUid('partitioned', { n }).catch(() => -1); // a refusal counts nothing
      sends.push({ n, count, afterDetection });
      // Done once a push sent after the detection was counted and has arrived.
      if (sends.some((s) => s.afterDetection && s.count === 1 && got(s.n))) break;
      await sleep(20);
    }

    // A push from B after all this: counted once, and received (the old engine counts it and loses it).
    const finalCount = await b.push.sendToUid('partitioned', 'final');
    const finalReceived = await until(c, 'final', 2000).then(
      () => true,
      () => false,
    );
    expect({ finalCount, finalReceived }).toEqual({ finalCount: 1, finalReceived: true });
    // Pushes before 'final' on the same channel arrived before it: whatever is missing now was lost.
    const countedButLost = sends.filter((s) => s.afterDetection && s.count === 1 && !got(s.n)).map((s) => s.n);
    expect(countedButLost).toEqual([]);
    expect(resets()).toBeGreaterThanOrEqual(1);
    expect(detectedAt! - partitionedAt).toBeLessThanOrEqual(3 * reapInterval + 500);
    await eventually(() => a.push.getMetrics().engineResyncs > resyncsBefore, 3000);
    expect(c.socket.readyState).toBe(c.socket.OPEN); // the client never noticed
  });
});

// ---- #15 --------------------------------------------------------------------------------------------------------

describe('#2 a node whose command connection is slow, not its subscriber', () => {
  let proxy: TcpProxy;
  let a: TestApp;

  beforeAll(async () => {
    proxy = await TcpProxy.start(redis.port);
    // reapInterval 500: a probe unheard for 750 ms would call the subscriber deaf. nodeTtl and requestTimeout are
    // long enough that neither the reaper nor a command timeout steps in while A's commands are held.
    const engine = { type: 'redis' as const, prefix: uniquePrefix('slow'), nodeTtl: 4000, reapInterval: 500 };
    a = await startApp({ engine: { ...engine, url: proxy.url, requestTimeout: 5000 } });
  });
  afterAll(async () => {
    for (const conn of proxy.connections) conn.resume();
    await a.close();
    await proxy.close();
  });

  it('does not blame the subscriber for probes that Redis has not accepted yet', async () => {
    const c = await TestClient.connect(a.wsUrl);
    const command = proxy.connections.find((conn) => !conn.subscriber)!;
    const resetsBefore = a.push.getMetrics().subscriberResets;
    command.pause();
    // The scenario is a stretch of time: 4 x reapInterval of probes held on the command connection.
    await sleep(2000);
    expect(command.heldIncludes('probe')).toBe(true);
    command.resume();
    await eventually(() => a.push.isOnline(c.clientId));
    await eventually(() => !command.heldIncludes('probe'));
    expect(a.push.getMetrics().subscriberResets).toBe(resetsBefore);
    await a.disconnect([c]);
  });
});

describe('#15 calls for the clients of a node whose subscriber is reconnecting', () => {
  const prefix = uniquePrefix('p15');
  let proxy: TcpProxy;
  let a: TestApp;
  let b: TestApp;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    proxy = await TcpProxy.start(redis.port);
    const engine = { type: 'redis' as const, prefix, nodeTtl: 1000, requestTimeout: 500 };
    a = await startApp({ engine: { ...engine, url: proxy.url } });
    b = await startApp({ engine: { ...engine, url: redis.url } });
  });
  afterAll(async () => {
    proxy.mode = 'forward';
    await closeAll(a, clients);
    await a.close();
    await b.close();
    await proxy.close();
  });

  it('answer 503 (PushEngineUnavailableError), never 404, and work again once it is back', async () => {
    const c = await TestClient.connect(a.wsUrl);
    clients.push(c);
    const id = c.clientId;
    await b.push.bindUid(id, 'holder-15');
    await b.push.joinGroup(id, 'group-15');

    // Kill A's subscriber connection at Redis, and refuse its reconnects at the proxy.
    const sub = await proxy.waitFor((conn) => conn.subscriber);
    proxy.mode = 'reject';
    const list = (await admin.call('CLIENT', 'LIST')) as string;
    const line = list.split('\n').find((l) => l.includes(` addr=127.0.0.1:${sub.upstreamPort} `));
    expect(line).toMatch(/ sub=[1-9]/);
    await admin.call('CLIENT', 'KILL', 'ID', /\bid=(\d+)/.exec(line!)![1]);
    await eventually(async () => (await channelsWith(a.push.nodeId)).length === 0, 3000);
    expect(await admin.zscore(new RedisKeys(prefix).nodes, a.push.nodeId)).not.toBeNull(); // A is alive all along

    const calls = {
      bindUid: () => b.push.bindUid(id, 'other'),
      unbindUid: () => b.push.unbindUid(id),
      joinGroup: () => b.push.joinGroup(id, 'other-group'),
      leaveGroup: () => b.push.leaveGroup(id, 'group-15'),
      setSession: () => b.push.setSession(id, { k: 1 }),
      updateSession: () => b.push.updateSession(id, { k: 2 }),
      closeClient: () => b.push.closeClient(id),
    };
    const unavailable = Object.fromEntries(Object.keys(calls).map((k) => [k, PushEngineUnavailableError.name]));
    const round = async () =>
      Object.fromEntries(await Promise.all(Object.entries(calls).map(async ([k, call]) => [k, await outcome(call)])));

    // At once (before A can have noticed anything)…
    expect(await round()).toEqual(unavailable);
    // …and once A has noticed it has no subscriber (if it counts it).
    await eventually(() => subscriberResets(a) >= 1, 2000).catch(() => undefined);
    expect(await round()).toEqual(unavailable);
    expect(c.socket.readyState).toBe(c.socket.OPEN);

    // The subscriber may reconnect again: calls work, the client was never touched.
    proxy.mode = 'forward';
    await eventually(() => b.push.bindUid(id, 'after-15').then(() => true, () => false), 8000);
    expect(await b.push.sendToUid('after-15', 'back')).toBe(1);
    expect(await c.next()).toBe('back');
    expect(await b.push.getGroupsByClientId(id)).toEqual(['group-15']);
  });
});

// ---- #3 ---------------------------------------------------------------------------------------------------------

describe('#3 a bind or join racing the close of its connection', () => {
  let a: TestApp;
  let b: TestApp;
  let spy: Redis;

  beforeAll(async () => {
    const engine = { type: 'redis' as const, url: redis.url, prefix: uniquePrefix('p3') };
    a = await startApp({ engine });
    b = await startApp({ engine });
    spy = new Redis(redis.url);
  });
  afterAll(async () => {
    spy.disconnect();
    await a.close();
    await b.close();
  });

  it('leaves nothing behind: not in the index, not in the holder, not in its subscriptions', async () => {
    const run = randomBytes(3).toString('hex');
    // Requests from B to A travel on A's node channel: the spy hears them as A does, and cuts the client then,
    // so that the close lands while A is in the middle of the write.
    const armed = new Map<string, () => void>();
    spy.on('pmessageBuffer', (_pattern: Buffer, _channel: Buffer, message: Buffer) => {
      for (const [cid, cut] of armed) {
        if (!message.includes(cid)) continue;
        armed.delete(cid);
        cut();
      }
    });
    await spy.psubscribe(`*${a.push.nodeId}*`);

    type Variant = {
      origin: 'remote' | 'holder';
      when: 'on-request' | 'sync' | 'next-turn';
      cut: 'terminate' | 'close';
    };
    const variants: Variant[] = [
      { origin: 'remote', when: 'on-request', cut: 'terminate' },
      { origin: 'remote', when: 'on-request', cut: 'close' },
      { origin: 'remote', when: 'sync', cut: 'terminate' },
      { origin: 'holder', when: 'sync', cut: 'terminate' },
      { origin: 'holder', when: 'sync', cut: 'close' },
      { origin: 'holder', when: 'next-turn', cut: 'terminate' },
    ];
    const rounds = 12;
    const closed = new Set<string>();
    const watch = a.events.close$.subscribe((e) => closed.add(e.clientId));
    const uids: string[] = [];
    const groups: string[] = [];
    const outcomes: string[] = [];
    const ids: string[] = [];
    try {
      for (let r = 0; r < rounds; r++) {
        const wave = await Promise.all(variants.map(() => TestClient.connect(a.wsUrl)));
        const settled = wave.map((c, i) => {
          const v = variants[i];
          const uid = `race-${run}-u${r}-${i}`;
          const group = `race-${run}-g${r}-${i}`;
          uids.push(uid);
          groups.push(group);
          ids.push(c.clientId);
          const push = v.origin === 'remote' ? b.push : a.push;
          const cut = () => (v.cut === 'terminate' ? c.socket.terminate() : c.socket.close());
          if (v.when === 'on-request') {
            armed.set(c.clientId, cut);
            setTimeout(() => armed.delete(c.clientId) && cut(), 300); // in case the request is never seen
          }
          const calls = [
            outcome(() => push.bindUid(c.clientId, uid)),
            outcome(() => push.joinGroup(c.clientId, group)),
          ];
          if (v.when === 'sync') cut();
          else if (v.when === 'next-turn') setImmediate(cut);
          return Promise.all(calls);
        });
        for (const o of await Promise.all(settled)) outcomes.push(...o);
      }
      await eventually(() => ids.every((id) => closed.has(id)), 5000);
    } finally {
      watch.unsubscribe();
    }
    // Each call either won (resolved) or lost (404): nothing else.
    expect(outcomes.filter((o) => o !== 'ok' && o !== PushClientNotFoundError.name)).toEqual([]);

    const mine = (list: string[]) => list.filter((x) => x.startsWith(`race-${run}-`));
    const leftovers = async () => ({
      clients: await b.push.getAllClientIdCount(),
      uids: mine(await b.push.getAllUidList()),
      groups: mine(await b.push.getAllGroupIdList()),
      channels: await channelsWith(`race-${run}-`),
    });
    const clean = { clients: 0, uids: [], groups: [], channels: [] };
    // Unsubscribing is asynchronous: give it a moment, then it must be clean.
    const isClean = async () => JSON.stringify(await leftovers()) === JSON.stringify(clean);
    await eventually(isClean, 2000).catch(() => undefined);
    expect(await leftovers()).toEqual(clean);
    // Nobody counts a delivery to any of them, from either node.
    expect(await b.push.sendToUid(uids, 'x')).toBe(0);
    expect(await a.push.sendToUid(uids, 'x')).toBe(0);
    expect(await b.push.sendToGroup(groups, 'x')).toBe(0);
    expect(await a.push.sendToGroup(groups, 'x')).toBe(0);
  });
});

// ---- #4 ---------------------------------------------------------------------------------------------------------

describe('#4 concurrent session writes', () => {
  let a: TestApp;
  let b: TestApp;
  let c: TestClient;

  beforeAll(async () => {
    const engine = { type: 'redis' as const, url: redis.url, prefix: uniquePrefix('p4') };
    a = await startApp({ engine });
    b = await startApp({ engine });
    c = await TestClient.connect(a.wsUrl); // held by A
  });
  afterAll(async () => {
    await closeAll(a, [c]);
    await a.close();
    await b.close();
  });

  it('updateSession({a:1}) and updateSession({b:1}) together leave both keys, on the holder node', async () => {
    await a.push.setSession(c.clientId, {});
    await Promise.all([a.push.updateSession(c.clientId, { a: 1 }), a.push.updateSession(c.clientId, { b: 1 })]);
    expect(await b.push.getSession(c.clientId)).toEqual({ a: 1, b: 1 });
  });

  it('… and from another node', async () => {
    await b.push.setSession(c.clientId, {});
    await Promise.all([b.push.updateSession(c.clientId, { a: 1 }), b.push.updateSession(c.clientId, { b: 1 })]);
    expect(await a.push.getSession(c.clientId)).toEqual({ a: 1, b: 1 });
  });

  it('many keys at once, from both nodes, nested ones merged too; the holder agrees with the index', async () => {
    await a.push.setSession(c.clientId, { base: true });
    const patches = Array.from({ length: 40 }, (_, i) => ({ [`k${i}`]: i, nested: { [`n${i}`]: i } }));
    await Promise.all(patches.map((patch, i) => (i % 2 ? a : b).push.updateSession(c.clientId, patch)));
    const expected: Record<string, unknown> = { base: true, nested: {} };
    patches.forEach((_, i) => {
      expected[`k${i}`] = i;
      (expected.nested as Record<string, number>)[`n${i}`] = i;
    });
    expect(await b.push.getSession(c.clientId)).toEqual(expected);
    expect(await a.push.updateSession(c.clientId, {})).toEqual(expected); // the holder's own copy
  });

  it('a setSession and an updateSession issued in that order apply in that order', async () => {
    await a.push.setSession(c.clientId, { old: 1 });
    for (const node of [a, b]) {
      await Promise.all([node.push.setSession(c.clientId, { x: 1 }), node.push.updateSession(c.clientId, { y: 1 })]);
      expect(await b.push.getSession(c.clientId)).toEqual({ x: 1, y: 1 });
      await node.push.setSession(c.clientId, { old: 1 });
    }
  });
});

// ---- #5 ---------------------------------------------------------------------------------------------------------

/** Waits (up to `ms`, quietly) until one of the tokens appears in a command held on `conn`. */
async function waitHeld(conn: ProxyConnection, tokens: Buffer[], ms: number): Promise<boolean> {
  let scanned = 0;
  return eventually(() => {
    for (; scanned < conn.held.length; scanned++) {
      if (tokens.some((token) => conn.held[scanned].raw.includes(token))) return true;
    }
    return false;
  }, ms).catch(() => false);
}

describe('#5 a resync racing closes, binds, joins and session writes', () => {
  const prefix = uniquePrefix('p5');
  const N = 1100; // the resync writes connections back 500 at a time: three batches
  const WAVE = 100;
  let proxy: TcpProxy;
  let a: TestApp;
  let b: TestApp;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    proxy = await TcpProxy.start(redis.port);
    // Long liveness timings: A's heartbeats (and its subscriber probes) wait behind the held commands too, and
    // neither B's reaper nor A's own probe must step in meanwhile. requestTimeout bounds how long a command may be
    // held.
    const engine = { type: 'redis' as const, prefix, nodeTtl: 12_000, reapInterval: 3000, requestTimeout: 5000 };
    // All sockets come from 127.0.0.1: lift the per-address cap (an option the old module does not know).
    const uncapped = { maxConnectionsPerAddress: Infinity } as object;
    a = await startApp({ engine: { ...engine, url: proxy.url }, ...uncapped });
    b = await startApp({ engine: { ...engine, url: redis.url } });
  });
  afterAll(async () => {
    proxy.mode = 'forward';
    for (const conn of proxy.connections) conn.resume();
    await closeAll(a, clients);
    await a.close();
    await b.close();
    await proxy.close();
  }, 20_000);

  it('leaves the index exactly as the node holds it: nothing closed comes back, no write is rolled back', async () => {
    const run = randomBytes(3).toString('hex');
    // Opened wave after wave, so A holds them in this order: its write-back batches are 0-499, 500-999, 1000-1099.
    for (let w = 0; w < N / WAVE; w++) {
      clients.push(...(await Promise.all(Array.from({ length: WAVE }, () => TestClient.connect(a.wsUrl)))));
    }
    const id = (i: number) => clients[i].clientId;
    const range = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => from + k);
    const closing = [...range(600, 620), ...range(1000, 1020)];
    const binding = [...range(520, 560), ...range(1030, 1050)];
    const joining = [...range(560, 580), ...range(1050, 1060)];
    const sessions = [...range(580, 600), ...range(1060, 1070)];
    const firstBatch = Buffer.from(id(3));
    const secondBatch = Buffer.from(id(990)); // untouched by the test
    const oldGroup = `${run}-old`;
    const newGroup = `${run}-new`;
    // The state a snapshot taken now would carry.
    await Promise.all([
      ...binding.map((i) => a.push.bindUid(id(i), `${run}-old-${i}`)),
      ...joining.map((i) => a.push.joinGroup(id(i), oldGroup)),
      ...sessions.map((i) => a.push.setSession(id(i), { v: 'old' })),
    ]);

    // Make A resync (its subscriber connection drops and comes back) and hold its command connection at the
    // first write-back batch: everything A sends after it waits, in order, behind it.
    const cmds = proxy.connections.filter((c) => !c.subscriber);
    expect(cmds).toHaveLength(1);
    const conn = cmds[0];
    const held = conn.holdWhen((cmd) => cmd.raw.includes(firstBatch));
    const resyncsBefore = a.push.getMetrics().engineResyncs;
    proxy.subscribers()[0].destroy();
    const holding = await within(held.then(() => true), 5000, false);
    expect(holding).toBe(true);

    // While the first batch is in flight: close some, bind/join/set others (half from A, half from B).
    const closeEvents = new Set<string>();
    const watch = a.events.close$.subscribe((e) => closeEvents.add(e.clientId));
    for (const i of closing) clients[i].socket.terminate();
    const via = (k: number) => (k % 2 ? b : a).push;
    const writes = [
      ...binding.map((i, k) => outcome(() => via(k).bindUid(id(i), `${run}-new-${i}`))),
      ...joining.map((i, k) => outcome(() => via(k).joinGroup(id(i), newGroup))),
      ...sessions.map((i, k) => outcome(() => via(k).setSession(id(i), { v: 'new', i }))),
    ];
    const touched = [...closing, ...binding, ...joining, ...sessions].map((i) => Buffer.from(id(i)));
    // Let those writes reach the held queue, ahead of the rest of the write-back. With ioredis auto-pipelining only
    // the first of them can (A's own writes, issued in one turn: the next auto-pipeline waits for that one's
    // replies); an engine that orders them after the write-back sends none, and the wait just times out.
    await waitHeld(conn, touched, 1000);
    // Let the first batch through, not the writes: the old engine then builds and sends the next batch at once.
    conn.release((cmd) => !touched.some((t) => cmd.raw.includes(t)));
    await waitHeld(conn, [secondBatch], 1000);
    conn.resume();

    expect(await Promise.all(writes)).toEqual(writes.map(() => 'ok'));
    await eventually(() => closing.every((i) => closeEvents.has(id(i))), 5000);
    watch.unsubscribe();
    await eventually(() => a.push.getMetrics().engineResyncs > resyncsBefore, 5000);

    const closedIds = new Set(closing.map(id));
    const expectedOnline = clients.map((c) => c.clientId).filter((x) => !closedIds.has(x));
    const newUid = (i: number) => `${run}-new-${i}`;
    const oldUid = (i: number) => `${run}-old-${i}`;
    const diff = async () => {
      const online = new Set(await b.push.getAllClientIdList());
      const byUid = await b.push.batchGetClientIdByUid([...binding.map(newUid), ...binding.map(oldUid)]);
      const inNewGroup = new Set(await b.push.getClientIdListByGroup(newGroup));
      const inOldGroup = new Set(await b.push.getClientIdListByGroup(oldGroup));
      const sessionNow = await Promise.all(sessions.map((i) => b.push.getSession(id(i))));
      return {
        resurrected: closing.filter((i) => online.has(id(i))),
        missing: expectedOnline.filter((x) => !online.has(x)).length,
        uidRolledBack: binding.filter(
          (i) => JSON.stringify(byUid[newUid(i)]) !== JSON.stringify([id(i)]) || byUid[oldUid(i)].length > 0,
        ),
        joinRolledBack: joining.filter((i) => !inNewGroup.has(id(i)) || !inOldGroup.has(id(i))),
        sessionRolledBack: sessions.filter((i, k) => JSON.stringify(sessionNow[k]) !== JSON.stringify({ v: 'new', i })),
      };
    };
    const exact = { resurrected: [], missing: 0, uidRolledBack: [], joinRolledBack: [], sessionRolledBack: [] };
    await eventually(async () => JSON.stringify(await diff()) === JSON.stringify(exact), 3000).catch(() => undefined);
    expect(await diff()).toEqual(exact);
    expect(await b.push.getAllClientIdCount()).toBe(N - closing.length);
  }, 45_000);
});

// ---- #8 ---------------------------------------------------------------------------------------------------------

describe('#8 two apps on two databases of one Redis, same (default) prefix', () => {
  let x: TestApp; // app X on /0: a node with sockets and a push-only node
  let xp: TestApp;
  let y: TestApp; // app Y on /1
  let yp: TestApp;
  const opened: [TestApp, TestClient][] = [];

  beforeAll(async () => {
    const on = (db: number) => ({ type: 'redis' as const, url: `${redis.url}/${db}` });
    x = await startApp({ engine: on(0) });
    xp = await startApp({ engine: on(0), gateway: false });
    y = await startApp({ engine: on(1) });
    yp = await startApp({ engine: on(1), gateway: false });
  });
  afterAll(async () => {
    for (const [app, c] of opened) await closeAll(app, [c]);
    for (const app of [x, xp, y, yp]) await app.close();
  });

  /** One socket in each app, both bound to the same uid. */
  async function sockets(uid: string): Promise<[TestClient, TestClient]> {
    const cx = await TestClient.connect(x.wsUrl);
    const cy = await TestClient.connect(y.wsUrl);
    opened.push([x, cx], [y, cy]);
    await x.push.bindUid(cx.clientId, uid);
    await y.push.bindUid(cy.clientId, uid);
    return [cx, cy];
  }

  // A barrier: published after the push under test, it reaches the other app's node after anything that push
  // published there, so the first frame the other app's client gets tells whether the push leaked.
  it('sendToAll reaches only its own app, and counts only its own sockets', async () => {
    const [cx, cy] = await sockets('all-test');
    expect(await xp.push.sendToAll('all from X')).toBe(1);
    expect(await cx.next()).toBe('all from X');
    expect(await yp.push.sendToClient(cy.clientId, 'barrier Y')).toBe(1);
    expect(await cy.next()).toBe('barrier Y');

    expect(await y.push.sendToAll('all from Y')).toBe(1);
    expect(await cy.next()).toBe('all from Y');
    expect(await xp.push.sendToClient(cx.clientId, 'barrier X')).toBe(1);
    expect(await cx.next()).toBe('barrier X');
  });

  it('sendToUid of a uid bound in both apps reaches only its own app', async () => {
    const [cx, cy] = await sockets('same-uid');
    expect(await yp.push.sendToUid('same-uid', 'uid from Y')).toBe(1);
    expect(await cy.next()).toBe('uid from Y');
    expect(await xp.push.sendToClient(cx.clientId, 'barrier X')).toBe(1);
    expect(await cx.next()).toBe('barrier X');

    expect(await xp.push.sendToUid('same-uid', 'uid from X')).toBe(1);
    expect(await cx.next()).toBe('uid from X');
    expect(await yp.push.sendToClient(cy.clientId, 'barrier Y')).toBe(1);
    expect(await cy.next()).toBe('barrier Y');
  });
});

// ---- #10 --------------------------------------------------------------------------------------------------------

describe('#10 sendToGroup with 10,000 groups', () => {
  let a: TestApp;
  let b: TestApp;
  const opened: [TestApp, TestClient][] = [];

  beforeAll(async () => {
    const engine = { type: 'redis' as const, url: redis.url, prefix: uniquePrefix('p10') };
    a = await startApp({ engine });
    b = await startApp({ engine });
  });
  afterAll(async () => {
    for (const [app, c] of opened) await closeAll(app, [c]);
    await a.close();
    await b.close();
  });

  it.each([
    ['the node holding one member', () => a],
    ['the node holding the other', () => b],
  ])('from %s: resolves with the right count, each member receives it once', async (name, from) => {
    const tag = name.includes('one') ? 'one' : 'other';
    const groups = Array.from({ length: 10_000 }, (_, i) => `wide-${tag}-${i}`);
    const near = await TestClient.connect(a.wsUrl);
    const far = await TestClient.connect(b.wsUrl);
    opened.push([a, near], [b, far]);
    await a.push.joinGroup(near.clientId, groups[42]);
    for (const i of [17, 5000, 9999]) await a.push.joinGroup(far.clientId, groups[i]);

    expect(await outcome(() => from().push.sendToGroup(groups, 'wide'))).toBe('ok 2');
    expect(await near.next()).toBe('wide');
    expect(await far.next()).toBe('wide');
    // Once only: the next frame each gets is this one.
    expect(await a.push.sendToClient(far.clientId, 'after')).toBe(1);
    expect(await far.next()).toBe('after');
    expect(await b.push.sendToClient(near.clientId, 'after')).toBe(1);
    expect(await near.next()).toBe('after');
  });
});

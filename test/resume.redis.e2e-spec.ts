import { randomBytes } from 'node:crypto';
import { RecordingClient } from './support/recording-client';
import { RedisServer } from './support/redis-server';
import { TcpProxy } from './support/tcp-proxy';
import { startApp, type TestApp } from './support/test-app';
import { eventually } from './support/wait';

/*
 * Resume and recovery on the Redis engine with in-process nodes (a real redis-server, and a TCP proxy in front of it
 * where a node's link to Redis has to fail): the sequence every resumable connection's frames of a history keep, and
 * what happens when a node misses messages.
 */

jest.setTimeout(30_000);

type Data = { to: string; seq: number };

let redis: RedisServer;
beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(async () => {
  await redis.close();
});

describe('resume on the Redis engine', () => {
  const apps: TestApp[] = [];
  const clients: RecordingClient<Data>[] = [];
  let proxy: TcpProxy | undefined;
  const engine = (url = redis.url) => ({
    type: 'redis' as const,
    url,
    prefix: `rr-${randomBytes(3).toString('hex')}:`,
    nodeTtl: 1000,
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    for (const app of apps.splice(0)) await app.close();
    await proxy?.close();
    proxy = undefined;
  });

  const client = (app: TestApp, bind: (clientId: string) => Promise<void>) => {
    const c = new RecordingClient<Data>(app.wsUrl, { bind, backoff: { initial: 50, max: 200 } });
    clients.push(c);
    return c;
  };

  it('a connection that joins a group while another node pushes to it continuously gets what follows its join in sequence, with no gap cut', async () => {
    const config = engine();
    const [a, b] = [await startApp({ engine: config }), await startApp({ engine: config })];
    apps.push(a, b);
    let joined = false;
    const c = client(a, async (id) => {
      await a.push.bindUid(id, 'joiner');
      joined = true;
    });
    await c.until('bound', () => joined);
    // Another member already makes node A listen to the group; its messages flow while the joiner joins.
    const other = client(a, async (id) => void (await a.push.joinGroup(id, 'busy')));
    await other.until('joined', () => other.binds.length === 1);
    let seq = 0;
    let pushing = true;
    const pushes = (async () => {
      while (pushing) {
        await b.push.sendToGroup('busy', { to: 'busy', seq: ++seq });
        await new Promise((done) => setImmediate(done));
      }
    })();
    await eventually(async () => other.messages.length > 20, 10_000);
    await a.push.joinGroup(c.clientId, 'busy');
    const joinedAt = seq;
    await eventually(async () => seq > joinedAt + 50, 10_000);
    pushing = false;
    await pushes;
    await c.until('the last push', () => c.messages.at(-1)?.seq === seq);
    const received = c.messages.map((m) => m.seq);
    // A contiguous run ending with the last push, each once: nothing skipped after its first message.
    expect(received).toEqual(Array.from({ length: received.length }, (_, i) => received[0] + i));
    expect(received[0]).toBeLessThanOrEqual(joinedAt + 1);
    expect(a.push.getMetrics().resumes.gaps).toBe(0);
    expect(c.resumes).toEqual([]);
  });

  /**
   * Two nodes, A's link to Redis through a TCP proxy, and a resumable client on A bound to `uid`. `deafWhile(fn)` cuts
   * A's subscriber connection (Redis up, the commands untouched), runs `fn` (what is published then, A never hears),
   * lets it reconnect and waits for A's resync.
   */
  const deafNodeSetup = async (uid: string) => {
    proxy = await TcpProxy.start(redis.port);
    const link = proxy;
    const config = engine();
    const a = await startApp({ engine: { ...config, url: link.url } });
    const b = await startApp({ engine: config });
    apps.push(a, b);
    let bound = false;
    const c = client(a, async (id) => {
      await a.push.bindUid(id, uid);
      bound = true;
    });
    await c.until('bound', () => bound);
    const deafWhile = async (fn: () => Promise<void>) => {
      const sub = await link.waitFor((conn) => conn.subscriber);
      link.mode = 'reject';
      sub.destroy();
      await fn();
      link.mode = 'forward';
      await eventually(async () => a.push.getMetrics().engineResyncs > 0, 10_000);
    };
    return { a, b, c, deafWhile };
  };

  it("a node whose subscriber missed messages (its link to Redis cut and restored) cuts its resumable clients with 1013; they resume and get every message once and in order", async () => {
    const { a, b, c, deafWhile } = await deafNodeSetup('alice');
    let seq = 0;
    const send = async () => b.push.sendToUid('alice', { to: 'alice', seq: ++seq });
    await send();
    await c.received(1);
    await deafWhile(async () => {
      for (let i = 0; i < 5; i++) await send();
    });
    // Once A listens again, the next push reaches it past the gap: the client is cut, resumes, and gets all of it.
    await send();
    const resumed = await c.resumed(1, 10_000);
    expect(resumed).toMatchObject({ resumed: true, recovered: true });
    await c.received(seq, 10_000);
    expect(c.messages.map((m) => m.seq)).toEqual(Array.from({ length: seq }, (_, i) => i + 1));
    expect(a.push.getMetrics().resumes.gaps).toBe(1);
    expect(c.binds).toHaveLength(1);
  });

  it("a node that missed the first messages to a connection's client_id (its subscriber cut and restored) cuts it with 1013 at the next one; it resumes and gets every one once and in order", async () => {
    const { a, b, c, deafWhile } = await deafNodeSetup('carol');
    const id = c.clientId;
    let seq = 0;
    const send = async () => b.push.sendToClient(id, { to: id, seq: ++seq });
    // Nothing was ever sent to its client_id: the first message A hears of that history is past what it missed.
    await deafWhile(async () => {
      for (let i = 0; i < 4; i++) await send();
    });
    await send();
    const resumed = await c.resumed(1, 10_000);
    expect(resumed).toMatchObject({ resumed: true, recovered: true });
    await c.received(seq, 10_000);
    expect(c.messages.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(a.push.getMetrics().resumes.gaps).toBe(1);
    expect(c.binds).toHaveLength(1);
  });

  it('Redis restarted empty: a resume right after the node reconnects, before its liveness round, is told recovered: false', async () => {
    const own = await RedisServer.start();
    try {
      // A liveness round every 15 s: none runs during the test, so only the reconnect can tell the node.
      const a = await startApp({ engine: { ...engine(own.url), nodeTtl: 60_000 } });
      apps.push(a);
      proxy = await TcpProxy.start(Number(new URL(a.baseUrl).port));
      let bound = false;
      const c = new RecordingClient<Data>(`ws://127.0.0.1:${proxy.port}/ws`, {
        bind: async (id) => {
          await a.push.bindUid(id, 'ivy');
          bound = true;
        },
        backoff: { initial: 50, max: 200 },
      });
      clients.push(c);
      await c.until('bound', () => bound);
      await a.push.sendToUid('ivy', { to: 'ivy', seq: 1 });
      await c.received(1);
      // The client's connection drops (the proxy closes it).
      const detached = new Promise<void>((resolve) => {
        const sub = a.events.detach$.subscribe(() => {
          sub.unsubscribe();
          resolve();
        });
      });
      proxy.mode = 'reject';
      for (const conn of proxy.connections) conn.destroy();
      await detached;
      expect(await a.push.send({ uid: 'ivy' }, { to: 'ivy', seq: 2 })).toEqual({ delivered: 0, held: 1 });
      // Redis comes back empty: the held message's history is gone with it.
      await own.stop();
      await own.restart();
      await eventually(async () => a.push.getMetrics().engineResyncs > 0, 10_000);
      proxy.mode = 'forward';
      const resumed = await c.resumed(1, 10_000);
      expect(resumed).toMatchObject({ resumed: true, recovered: false });
      expect(c.binds).toHaveLength(1);
    } finally {
      await own.close();
    }
  });

  it('a send to several groups reaches a connection in two of them once, live and on replay, and counts it once', async () => {
    const config = engine();
    const a = await startApp({ engine: config });
    const b = await startApp({ engine: config });
    apps.push(a, b);
    let bound = false;
    const c = client(a, async (id) => {
      await a.push.joinGroup(id, 'g1');
      await a.push.joinGroup(id, 'g2');
      bound = true;
    });
    await c.until('bound', () => bound);
    expect(await b.push.send({ group: ['g1', 'g2'] }, { to: 'both', seq: 1 })).toEqual({ delivered: 1, held: 0 });
    await c.received(1);
    expect(await b.push.send({ group: ['g2', 'g1'] }, { to: 'both', seq: 2 })).toEqual({ delivered: 1, held: 0 });
    await c.received(2);
    // Dropped, then pushed to through both groups, then resumed: once each, in order.
    const id = c.clientId;
    const detached = new Promise<void>((resolve) => {
      const sub = a.events.detach$.subscribe((e) => {
        if (e.clientId === id) {
          sub.unsubscribe();
          resolve();
        }
      });
    });
    const socket = (c.client as unknown as { socket: { terminate?: () => void; _socket?: { destroy(): void } } }).socket;
    socket._socket?.destroy();
    await detached;
    expect(await b.push.send({ group: ['g1', 'g2'] }, { to: 'both', seq: 3 })).toEqual({ delivered: 0, held: 1 });
    expect(await b.push.send({ group: ['g2', 'g1'] }, { to: 'both', seq: 4 })).toEqual({ delivered: 0, held: 1 });
    expect(await c.resumed(1, 10_000)).toMatchObject({ resumed: true, recovered: true });
    await c.received(4);
    // A last push: once it is in, nothing older is still on its way.
    await b.push.send({ group: ['g1', 'g2'] }, { to: 'both', seq: 5 });
    await c.received(5);
    expect(c.messages.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(a.push.getMetrics().resumes.gaps).toBe(0);
  });
});

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { NodeProcess } from './support/node-process';
import { type ClusterBackend, eventuallyTruthy, redisCluster, singleRedis } from './support/cluster-backend';
import { HttpClient } from './support/test-app';
import { TestClient } from './support/test-client';

/*
 * The example app as a real cluster: every node is its own `node dist/src/main.js` process on one Redis of the
 * test's own. Gateway nodes A and B hold the sockets; C is push-only (PUSH_GATEWAY=off) and every bind, join, send
 * and query goes through it, so each one crosses processes. The scenarios run in order on one cluster: the
 * destructive ones (SIGKILL of A, Redis outage, SIGTERM of a fresh node D) come last.
 */

jest.setTimeout(60_000);

const ROOT = resolve(__dirname, '..');
const NODE_TTL_MS = 1500; // reapInterval = nodeTtl / 4: a crashed node is gone from every query within ~1.9 s
const DEADLINE_MS = 10_000; // hard deadline of every poll for state that has no event

interface Reply<T = any> {
  status: number;
  body: T;
}

/** One real HTTP request with a hard timeout, so a hung node fails the test instead of blocking it. */
async function request<T = any>(
  base: string,
  method: 'GET' | 'POST',
  path: string,
  options: { cookie?: string; body?: unknown; timeoutMs?: number } = {},
): Promise<Reply<T>> {
  const headers: Record<string, string> = {};
  if (options.cookie) headers.cookie = options.cookie;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(base + path, {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    signal: AbortSignal.timeout(options.timeoutMs ?? 5000),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body: body as T };
}

/** Polls for state that has no event (the index as another node sees it), within `DEADLINE_MS` by default. */
const eventually = <T>(what: string, check: () => Promise<T>, ms = DEADLINE_MS) => eventuallyTruthy(what, check, ms);

describeCluster(singleRedis());
describeCluster(redisCluster());

function describeCluster(backend: ClusterBackend): void {
describe(`cluster: real node processes (two gateway nodes + a push-only node) on ${backend.name}`, () => {
  const prefix = `cluster-${randomBytes(4).toString('hex')}:`;
  const secret = randomBytes(16).toString('hex');
  const nodes: NodeProcess[] = [];
  const sockets: TestClient[] = [];
  let A: NodeProcess;
  let B: NodeProcess;
  let C: NodeProcess;
  /** Login cookies, obtained on C and valid on every node (same COOKIE_SECRET). */
  const cookie: Record<string, string> = {};
  let aliceA: TestClient; // alice's tab on A
  let aliceB: TestClient; // alice's tab on B
  let bobB: TestClient;
  let carolA: TestClient;
  let anonB: TestClient; // connected, never bound
  const binds: Reply[] = [];

  const startNode = async (name: string, gateway = true): Promise<NodeProcess> => {
    const node = await NodeProcess.start(name, {
      COOKIE_SECRET: secret,
      PUSH_ENGINE: 'redis',
      ...backend.env(),
      PUSH_REDIS_PREFIX: prefix,
      PUSH_NODE_TTL_MS: String(NODE_TTL_MS),
      ...(gateway ? {} : { PUSH_GATEWAY: 'off' }),
    });
    nodes.push(node);
    return node;
  };
  const connect = async (node: NodeProcess): Promise<TestClient> => {
    const client = await TestClient.connect(node.wsUrl);
    sockets.push(client);
    return client;
  };
  const login = async (uid: string): Promise<string> => {
    const http = await new HttpClient(C.url).login(uid);
    return http.cookie!;
  };
  /** `POST /send` as `from` through `node` (C unless said otherwise). */
  const send = (target: Record<string, unknown>, message: unknown, from = 'carol', node = C, timeoutMs?: number) =>
    request(node.url, 'POST', '/send', { cookie: cookie[from], body: { ...target, message }, timeoutMs });
  /** `POST /bind|/join|/leave` for one tab, as `uid`, through C (the request crosses to the tab's node). */
  const viaC = (uid: string, path: '/bind' | '/join' | '/leave', tab: TestClient, group?: string) =>
    request(C.url, 'POST', path, {
      cookie: cookie[uid],
      body: { client_id: tab.clientId, ...(group ? { group } : {}) },
    });
  const pushed = (data: unknown, from = 'carol') => ({ type: 'message', from, data });
  const stats = (node = C, timeoutMs?: number) => request(node.url, 'GET', '/stats', { timeoutMs });
  const presence = (uid: string, node = C) => request(node.url, 'GET', `/presence/${uid}`);
  /** Until C's /stats answers exactly `expected`. */
  const statsReach = (expected: { clients: number; uids: number; groups: number }) =>
    eventually(`C's /stats to become ${JSON.stringify(expected)}`, async () => {
      const res = await stats(C, 2000);
      return res.status === 200 && JSON.stringify(res.body) === JSON.stringify(expected) ? res : false;
    });
  let markers = 0;
  /**
   * Proves each tab got nothing more than what the test already read: a marker sent now through C to that one
   * client_id must be the very next frame it reads (per-socket order is preserved end to end).
   */
  const expectNothingMore = async (...tabs: TestClient[]) => {
    for (const tab of tabs) {
      const marker = { marker: ++markers };
      expect((await send({ client_id: tab.clientId }, marker)).body).toEqual({ delivered: 1, held: 0 });
      expect(await tab.next()).toEqual(pushed(marker));
    }
  };
  /** Runs a test body; when it fails, the error carries what every node process printed. */
  const withOutputs = (body: () => Promise<void>) => async () => {
    try {
      await body();
    } catch (error) {
      if (error instanceof Error) error.message += `\n\n${nodes.map((node) => node.output(4000)).join('\n')}`;
      throw error;
    }
  };
  const ok = (what: string, res: Reply) => {
    if (res.status !== 200) throw new Error(`${what}: ${res.status} ${JSON.stringify(res.body)}`);
    return res;
  };

  beforeAll(async () => {
    // Never run a stale build: compile exactly what `npm start` would run.
    try {
      execFileSync('npx', ['nest', 'build'], { cwd: ROOT, stdio: 'pipe', timeout: 120_000 });
    } catch (error) {
      const e = error as { stdout?: Buffer; stderr?: Buffer; message: string };
      throw new Error(`nest build failed: ${e.message}\n${e.stdout?.toString() ?? ''}${e.stderr?.toString() ?? ''}`);
    }
    await backend.start();
    // allSettled: every node that did start is in `nodes` (and killed in afterAll) before a failure is thrown.
    const started = await Promise.allSettled([startNode('A'), startNode('B'), startNode('C', false)]);
    [A, B, C] = started.map((result) => {
      if (result.status === 'rejected') throw result.reason;
      return result.value;
    });

    for (const uid of ['alice', 'bob', 'carol']) cookie[uid] = await login(uid);
    [aliceA, aliceB, bobB, carolA, anonB] = await Promise.all([
      connect(A),
      connect(B),
      connect(B),
      connect(A),
      connect(B),
    ]);
    // Every bind and join goes through C, which holds no socket: each one is a request to the holder node.
    binds.push(ok('bind alice on A', await viaC('alice', '/bind', aliceA, 'room')));
    binds.push(ok('bind alice on B', await viaC('alice', '/bind', aliceB)));
    binds.push(ok('bind bob on B', await viaC('bob', '/bind', bobB)));
    binds.push(ok('bind carol on A', await viaC('carol', '/bind', carolA, 'a-only')));
    binds.push(ok('join bob on B', await viaC('bob', '/join', bobB, 'room')));
  }, 180_000);

  afterAll(async () => {
    for (const socket of sockets) socket.socket.terminate();
    // SIGKILL whatever still runs, even when a test failed, so Jest never waits on (or leaves) a child.
    await Promise.all(nodes.map((node) => node.kill('SIGKILL')));
    await backend.close();
  });

  it(
    'routes binds, uid, group and broadcast sends across nodes, each tab getting exactly one copy',
    withOutputs(async () => {
      expect(aliceA.clientId.slice(0, 16)).not.toBe(aliceB.clientId.slice(0, 16)); // two different nodes
      expect(binds.map((r) => r.body)).toEqual([
        { client_id: aliceA.clientId, uid: 'alice', groups: ['room'] },
        { client_id: aliceB.clientId, uid: 'alice', groups: [] },
        { client_id: bobB.clientId, uid: 'bob', groups: [] },
        { client_id: carolA.clientId, uid: 'carol', groups: ['a-only'] },
        { client_id: bobB.clientId, groups: ['room'] },
      ]);

      // Cluster-wide answers, the same from the push-only node and from a gateway node.
      for (const node of [C, A]) {
        expect(await stats(node)).toEqual({ status: 200, body: { clients: 5, uids: 3, groups: 2 } });
        expect((await presence('alice', node)).body).toEqual({ uid: 'alice', online: true, connections: 2 });
        expect((await presence('carol', node)).body).toEqual({ uid: 'carol', online: true, connections: 1 });
        expect((await presence('nobody', node)).body).toEqual({ uid: 'nobody', online: false, connections: 0 });
      }

      // uid: both of alice's tabs (one per gateway node), one copy each.
      expect(await send({ uid: 'alice' }, 'to alice')).toEqual({ status: 200, body: { delivered: 2, held: 0 } });
      expect(await aliceA.next()).toEqual(pushed('to alice'));
      expect(await aliceB.next()).toEqual(pushed('to alice'));

      // group: 'room' has alice's tab on A and bob's on B; 'a-only' only carol's tab on A.
      expect(await send({ group: 'room' }, 'to room', 'bob')).toEqual({ status: 200, body: { delivered: 2, held: 0 } });
      expect(await aliceA.next()).toEqual(pushed('to room', 'bob'));
      expect(await bobB.next()).toEqual(pushed('to room', 'bob'));
      expect(await send({ group: 'a-only' }, 'to a-only')).toEqual({ status: 200, body: { delivered: 1, held: 0 } });
      expect(await carolA.next()).toEqual(pushed('to a-only'));

      // all: every connection of the cluster, bound or not.
      expect(await send({ all: true }, 'to everyone')).toEqual({ status: 200, body: { delivered: 5, held: 0 } });
      for (const tab of [aliceA, aliceB, bobB, carolA, anonB]) expect(await tab.next()).toEqual(pushed('to everyone'));

      // A send from a gateway node reaches the other gateway node's tab too (and its own, once).
      expect(await send({ uid: 'alice' }, 'from A', 'bob', A)).toEqual({ status: 200, body: { delivered: 2, held: 0 } });
      expect(await aliceA.next()).toEqual(pushed('from A', 'bob'));
      expect(await aliceB.next()).toEqual(pushed('from A', 'bob'));

      // Sends from a gateway node that holds some recipients itself: local ones once, remote ones once, counted once.
      expect(await send({ group: 'room' }, 'room from B', 'alice', B)).toEqual({ status: 200, body: { delivered: 2, held: 0 } });
      expect(await aliceA.next()).toEqual(pushed('room from B', 'alice'));
      expect(await bobB.next()).toEqual(pushed('room from B', 'alice'));
      expect(await send({ all: true }, 'all from A', 'alice', A)).toEqual({ status: 200, body: { delivered: 5, held: 0 } });
      for (const tab of [aliceA, aliceB, bobB, carolA, anonB]) {
        expect(await tab.next()).toEqual(pushed('all from A', 'alice'));
      }

      // Nothing duplicated, nothing extra, on any tab.
      await expectNothingMore(aliceA, aliceB, bobB, carolA, anonB);
    }),
  );

  it(
    'SIGKILL of node A: its connections leave every query within the liveness window; B is still served',
    withOutputs(async () => {
      const killed = A.kill('SIGKILL');
      // The process is gone without a goodbye: its clients see the TCP connection drop (1006, no close frame).
      expect(await aliceA.closed).toMatchObject({ code: 1006 });
      expect(await carolA.closed).toMatchObject({ code: 1006 });
      expect(await killed).toEqual({ code: null, signal: 'SIGKILL' });

      // Documented window: nodeTtl + reapInterval (~1.9 s here); hard deadline 10 s.
      await statsReach({ clients: 3, uids: 2, groups: 1 }); // carol (only on A) and 'a-only' are gone
      expect((await presence('alice')).body).toEqual({ uid: 'alice', online: true, connections: 1 });
      expect((await presence('carol')).body).toEqual({ uid: 'carol', online: false, connections: 0 });
      expect((await presence('bob')).body).toEqual({ uid: 'bob', online: true, connections: 1 });

      // B's clients are still served from C, with counts that no longer include A's dead tabs.
      expect(await send({ uid: 'alice' }, 'alice after A died')).toEqual({ status: 200, body: { delivered: 1, held: 0 } });
      expect(await aliceB.next()).toEqual(pushed('alice after A died'));
      expect(await send({ group: 'room' }, 'room after A died')).toEqual({ status: 200, body: { delivered: 1, held: 0 } });
      expect(await bobB.next()).toEqual(pushed('room after A died'));
      expect(await send({ group: 'a-only' }, 'nobody left')).toEqual({ status: 200, body: { delivered: 0, held: 0 } });
      expect(await send({ all: true }, 'all after A died')).toEqual({ status: 200, body: { delivered: 3, held: 0 } });
      for (const tab of [aliceB, bobB, anonB]) expect(await tab.next()).toEqual(pushed('all after A died'));
      await expectNothingMore(aliceB, bobB, anonB);
    }),
  );

  // A whole-backend outage is played on one Redis; on a cluster, one master dying is redis-cluster-failures.
  if (backend.outage) {
    it(
      'Redis outage: B keeps delivering locally (503 + delivered); the index returns without reconnects',
      withOutputs(async () => {
        const bTabs = [aliceB, bobB, anonB];
        let closes = 0;
        for (const tab of bTabs) void tab.closed.then(() => closes++);

        await backend.outage!.stop();

        // On B, a send to a uid whose tab B holds: the local delivery happens, the cluster part fails → 503.
        const local = await send({ uid: 'bob' }, 'during outage', 'alice', B);
        expect(local.status).toBe(503);
        expect(local.body).toMatchObject({ statusCode: 503, code: 'engine_unavailable', delivered: 1 });
        expect(await bobB.next()).toEqual(pushed('during outage', 'alice'));

        // C has nothing local: the same send answers 503 with delivered 0 (and must reach nobody, checked below).
        const remote = await send({ uid: 'bob' }, 'lost during outage', 'alice', C, 3000);
        expect(remote.status).toBe(503);
        expect(remote.body).toMatchObject({ code: 'engine_unavailable', delivered: 0 });

        // Queries fail at once rather than hang (a hang aborts the fetch after 3 s and fails here).
        const down = await stats(C, 3000);
        expect(down.status).toBe(503);
        expect(down.body).toMatchObject({ statusCode: 503, code: 'engine_unavailable' });

        // Redis comes back EMPTY. Nobody reconnects: each node writes its own connections back.
        await backend.outage!.restart();
        await statsReach({ clients: 3, uids: 2, groups: 1 });
        expect((await presence('alice')).body).toEqual({ uid: 'alice', online: true, connections: 1 });
        expect((await presence('bob')).body).toEqual({ uid: 'bob', online: true, connections: 1 });

        // Group membership was restored too: a group send from C reaches B's member, with the right count.
        // Nodes publish their connections again only once their subscriber is back and re-subscribed, so a count
        // of 1 here means B is listening (a regression would answer 1 and lose the frame).
        expect(await send({ group: 'room' }, 'room after outage')).toEqual({ status: 200, body: { delivered: 1, held: 0 } });
        expect(await bobB.next()).toEqual(pushed('room after outage'));
        // Cross-node delivery from C to uids and to everyone.
        expect(await send({ uid: 'alice' }, 'alice after outage')).toEqual({ status: 200, body: { delivered: 1, held: 0 } });
        expect(await aliceB.next()).toEqual(pushed('alice after outage'));
        expect(await send({ all: true }, 'all after outage')).toEqual({ status: 200, body: { delivered: 3, held: 0 } });
        for (const tab of bTabs) expect(await tab.next()).toEqual(pushed('all after outage'));

        // Requests to the holder node work again (C → B and B's reply → C): join and leave a group through C.
        const joined = await viaC('bob', '/join', bobB, 'later');
        expect(joined.body).toEqual({ client_id: bobB.clientId, groups: expect.arrayContaining(['room', 'later']) });
        expect(joined.body.groups).toHaveLength(2);
        expect(await send({ group: 'later' }, 'to later')).toEqual({ status: 200, body: { delivered: 1, held: 0 } });
        expect(await bobB.next()).toEqual(pushed('to later'));
        expect((await viaC('bob', '/leave', bobB, 'later')).body).toEqual({ client_id: bobB.clientId, groups: ['room'] });

        // Nothing extra (in particular not the 503'd send from C), nothing duplicated; no tab ever saw a close.
        await expectNothingMore(...bTabs);
        expect(closes).toBe(0);
        for (const tab of bTabs) expect(tab.socket.readyState).toBe(tab.socket.OPEN);
        expect(await stats()).toEqual({ status: 200, body: { clients: 3, uids: 2, groups: 1 } });
      }),
    );
  }

  it(
    'SIGTERM of a gateway node: its clients get 1001, it exits, and its entries are gone at once',
    withOutputs(async () => {
      const D = await startNode('D');
      cookie.dave = await login('dave');
      const [dave1, dave2] = await Promise.all([connect(D), connect(D)]);
      ok('bind dave on D', await viaC('dave', '/bind', dave1, 'd-room'));
      ok('bind dave on D', await viaC('dave', '/bind', dave2));
      expect(await stats()).toEqual({ status: 200, body: { clients: 5, uids: 3, groups: 2 } });
      expect(await send({ uid: 'dave' }, 'to dave')).toEqual({ status: 200, body: { delivered: 2, held: 0 } });
      expect(await dave1.next()).toEqual(pushed('to dave'));
      expect(await dave2.next()).toEqual(pushed('to dave'));

      const exit = await D.terminate().then((result) => ({ result, output: D.output() }));
      expect(await dave1.closed).toMatchObject({ code: 1001 });
      expect(await dave2.closed).toMatchObject({ code: 1001 });
      expect(exit.result).toEqual({ code: 0, signal: null });
      expect(exit.output).not.toMatch(/Error during shutdown|ERROR/);

      // No wait for the TTL: the node removed its own entries before exiting.
      expect(await stats()).toEqual({ status: 200, body: { clients: 3, uids: 2, groups: 1 } });
      expect((await presence('dave')).body).toEqual({ uid: 'dave', online: false, connections: 0 });
      expect(await send({ uid: 'dave' }, 'dave is gone')).toEqual({ status: 200, body: { delivered: 0, held: 0 } });

      // The rest of the cluster is untouched.
      expect(await send({ all: true }, 'all after D left')).toEqual({ status: 200, body: { delivered: 3, held: 0 } });
      for (const tab of [aliceB, bobB, anonB]) expect(await tab.next()).toEqual(pushed('all after D left'));
      await expectNothingMore(aliceB, bobB, anonB);
    }),
  );
});
}

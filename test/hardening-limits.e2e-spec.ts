import type { IncomingMessage } from 'node:http';
import { HttpException } from '@nestjs/common';
import WebSocket, { type ClientOptions } from 'ws';
import { PushLimitExceededError, type PushModuleOptions } from 'nest-push-channel';
import { HttpClient, startApp, TestApp } from './support/test-app';
import { TestClient } from './support/test-client';

/**
 * Issue 7 #7: the limits of hardening-spec.md, each against the example app on real sockets: groups per
 * connection (409 too_many_groups), session size (413 session_too_large), connections in total (503 server_full)
 * and per address (429 too_many_connections) at the upgrade, the authenticate hook's time (503 auth_timeout), and
 * the fan-out queue (503 fanout_queue_full). Every refusal is counted; the process keeps serving.
 */

/** How a call ended, reduced to what the spec fixes: resolved (with what), or an HTTP status and code. */
async function outcome(promise: Promise<unknown>): Promise<Record<string, unknown>> {
  return promise.then(
    (value) => ({ resolved: value === undefined ? null : JSON.parse(brief(JSON.stringify(value))) }),
    (error: unknown) =>
      error instanceof HttpException
        ? { status: error.getStatus(), code: (error as { code?: unknown }).code }
        : { threw: String(error) },
  );
}

/** A resolved value as JSON, with long strings cut (a failure message stays readable). */
function brief(json: string): string {
  return json.replace(/"([^"\\]{40})[^"\\]{8,}"/g, '"$1…"');
}

/** Expects `promise` to reject with a PushLimitExceededError of this status and code (and the limit in its body). */
async function expectLimit(promise: Promise<unknown>, status: number, code: string, limit: number): Promise<void> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(await outcome(error === null ? promise : Promise.reject(error))).toEqual({ status, code });
  // Checked by name too, so a missing export shows up in its own test below rather than here.
  if (typeof PushLimitExceededError === 'function') expect(error).toBeInstanceOf(PushLimitExceededError);
  else expect((error as object).constructor.name).toBe('PushLimitExceededError');
  expect((error as PushLimitExceededError).getResponse()).toMatchObject({ statusCode: status, code, limit });
}

/** How an upgrade ended: opened, refused (status + JSON body), or no answer within `ms` (the socket is then cut). */
function upgrade(url: string, options: ClientOptions = {}, ms = 5000): Promise<Record<string, unknown>> {
  const started = Date.now();
  return new Promise((resolve) => {
    const ws = new WebSocket(url, options);
    ws.on('error', () => undefined);
    const timer = setTimeout(() => {
      ws.terminate();
      resolve({ noAnswerWithin: ms });
    }, ms);
    ws.once('open', () => {
      clearTimeout(timer);
      ws.terminate();
      resolve({ opened: true });
    });
    ws.once('unexpected-response', (_req, res) => {
      clearTimeout(timer);
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => {
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // keep the text
        }
        resolve({ status: res.statusCode, body, elapsed: Date.now() - started });
      });
    });
  });
}

/** The new options, typed loosely so this file also compiles against a library that does not have them yet. */
function options(extra: Record<string, unknown>): Partial<PushModuleOptions> {
  return extra as Partial<PushModuleOptions>;
}

describe('limits (#7)', () => {
  it('PushLimitExceededError is exported from nest-push-channel', () => {
    expect(typeof PushLimitExceededError).toBe('function');
    expect(PushLimitExceededError.prototype).toBeInstanceOf(HttpException);
  });

  describe('groups per connection and session size', () => {
    const MAX_GROUPS = 3;
    const MAX_SESSION = 1024;
    let t: TestApp;
    const open: TestClient[] = [];
    beforeAll(async () => {
      t = await startApp(options({ maxGroupsPerConnection: MAX_GROUPS, maxSessionBytes: MAX_SESSION }));
    });
    afterAll(async () => {
      await t.disconnect(open.filter((c) => c.socket.readyState === WebSocket.OPEN));
      await t.close();
    });
    async function connect(): Promise<TestClient> {
      const c = await TestClient.connect(t.wsUrl);
      open.push(c);
      return c;
    }

    it('joinGroup past maxGroupsPerConnection rejects 409 too_many_groups, changes nothing, is counted', async () => {
      const c = await connect();
      const before = t.push.getMetrics().limitRefusals?.groups ?? 0;
      for (let i = 1; i <= MAX_GROUPS; i++) await t.push.joinGroup(c.clientId, `g${i}`);
      await expectLimit(t.push.joinGroup(c.clientId, 'g4'), 409, 'too_many_groups', MAX_GROUPS);
      expect((await t.push.getGroupsByClientId(c.clientId)).sort()).toEqual(['g1', 'g2', 'g3']);
      expect(await t.push.getClientIdCountByGroup('g4')).toBe(0);
      expect(t.push.getMetrics().limitRefusals?.groups).toBe(before + 1);
      // Leaving one makes room again; another connection has its own allowance.
      await t.push.leaveGroup(c.clientId, 'g1');
      await t.push.joinGroup(c.clientId, 'g4');
      expect((await t.push.getGroupsByClientId(c.clientId)).sort()).toEqual(['g2', 'g3', 'g4']);
      const other = await connect();
      await t.push.joinGroup(other.clientId, 'g4');
      expect(await t.push.sendToGroup('g4', 'hi')).toBe(2);
      expect(await c.next()).toBe('hi');
      expect(await other.next()).toBe('hi');
    });

    it('POST /join past the limit answers 409 with code too_many_groups', async () => {
      const http = await new HttpClient(t.baseUrl).login('joiner');
      const c = await connect();
      expect((await http.post('/bind', { client_id: c.clientId })).status).toBe(200);
      const before = t.push.getMetrics().limitRefusals?.groups ?? 0;
      for (let i = 1; i <= MAX_GROUPS; i++) {
        expect(await http.post('/join', { client_id: c.clientId, group: `room-${i}` })).toMatchObject({ status: 200 });
      }
      const refused = await http.post('/join', { client_id: c.clientId, group: 'room-4' });
      expect({ status: refused.status, code: refused.body?.code }).toEqual({ status: 409, code: 'too_many_groups' });
      expect((await t.push.getGroupsByClientId(c.clientId)).length).toBe(MAX_GROUPS);
      expect(t.push.getMetrics().limitRefusals?.groups).toBe(before + 1);
    });

    it('GET /stats still counts groups, and PushService.getAllGroupIdCount() agrees with the list', async () => {
      const a = await connect();
      const b = await connect();
      await t.push.joinGroup(a.clientId, 'stats-1');
      await t.push.joinGroup(a.clientId, 'stats-2');
      await t.push.joinGroup(b.clientId, 'stats-2');
      const groups = (await t.push.getAllGroupIdList()).length;
      expect(groups).toBeGreaterThanOrEqual(2);
      const count = (t.push as unknown as { getAllGroupIdCount?: () => Promise<number> }).getAllGroupIdCount;
      expect(typeof count).toBe('function');
      expect(await count!.call(t.push)).toBe(groups);
      const stats = await new HttpClient(t.baseUrl).get('/stats');
      expect(stats).toMatchObject({ status: 200, body: { clients: open.length, uids: expect.any(Number), groups } });
      expect(Object.keys(stats.body).sort()).toEqual(['clients', 'groups', 'uids']);
    });

    it('setSession past maxSessionBytes (UTF-8 bytes of its JSON) rejects 413 session_too_large; exactly at it is fine', async () => {
      const c = await connect();
      const before = t.push.getMetrics().limitRefusals?.session ?? 0;
      // {"s":"…"} is 8 bytes plus the string.
      await expect(t.push.setSession(c.clientId, { s: 'x'.repeat(MAX_SESSION - 8) })).resolves.toBeUndefined();
      await expectLimit(t.push.setSession(c.clientId, { s: 'y'.repeat(MAX_SESSION - 7) }), 413, 'session_too_large', MAX_SESSION);
      // 600 characters, 1200 bytes: bytes are what count.
      await expectLimit(t.push.setSession(c.clientId, { s: 'é'.repeat(600) }), 413, 'session_too_large', MAX_SESSION);
      expect(await t.push.getSession(c.clientId)).toEqual({ s: 'x'.repeat(MAX_SESSION - 8) });
      expect(t.push.getMetrics().limitRefusals?.session).toBe(before + 2);
    });

    it('updateSession whose merged result passes maxSessionBytes rejects 413, leaving the session as it was', async () => {
      const c = await connect();
      const before = t.push.getMetrics().limitRefusals?.session ?? 0;
      const half = 'h'.repeat(600);
      expect(await t.push.updateSession(c.clientId, { a: half })).toEqual({ a: half });
      // Each patch is small enough on its own; the merged session is not.
      await expectLimit(t.push.updateSession(c.clientId, { b: half }), 413, 'session_too_large', MAX_SESSION);
      expect(await t.push.getSession(c.clientId)).toEqual({ a: half });
      // A patch that shrinks it is fine.
      expect(await t.push.updateSession(c.clientId, { a: null, b: 'small' })).toEqual({ b: 'small' });
      expect(t.push.getMetrics().limitRefusals?.session).toBe(before + 1);
    });
  });

  describe('connections in total and per address', () => {
    let t: TestApp;
    const open: TestClient[] = [];
    beforeAll(async () => {
      t = await startApp(options({ maxConnections: 4, maxConnectionsPerAddress: 2 }));
    });
    afterAll(async () => {
      await t.disconnect(open.filter((c) => c.socket.readyState === WebSocket.OPEN));
      await t.close();
    });
    async function connectFrom(localAddress: string): Promise<TestClient> {
      const c = await TestClient.connect(t.wsUrl, { localAddress });
      open.push(c);
      return c;
    }

    it('refuses the upgrade past maxConnectionsPerAddress with 429 and past maxConnections with 503; both counted', async () => {
      const before = t.push.getMetrics().rejectedUpgrades as Record<string, number>;
      const a1 = await connectFrom('127.0.0.1');
      await connectFrom('127.0.0.1');
      const third = await upgrade(t.wsUrl, { localAddress: '127.0.0.1' });
      expect(third).toMatchObject({ status: 429, body: { code: 'too_many_connections' } });

      // The limit is per address: another address still gets in, up to the process-wide limit.
      await connectFrom('127.0.0.2');
      await connectFrom('127.0.0.2');
      expect(await t.push.getAllClientIdCount()).toBe(4);
      const fifth = await upgrade(t.wsUrl, { localAddress: '127.0.0.3' });
      expect(fifth).toMatchObject({ status: 503, body: { code: 'server_full' } });

      const after = t.push.getMetrics().rejectedUpgrades as Record<string, number>;
      expect({ perAddress: after.perAddress, capacity: after.capacity }).toEqual({
        perAddress: (before.perAddress ?? 0) + 1,
        capacity: (before.capacity ?? 0) + 1,
      });
      expect(await t.push.getAllClientIdCount()).toBe(4);

      // A closed connection frees its place, for its address and for the process.
      await t.disconnect([a1]);
      await connectFrom('127.0.0.1');
      expect(await t.push.getAllClientIdCount()).toBe(4);
    });
  });

  describe('authenticate time', () => {
    const AUTH_TIMEOUT = 300;
    let t: TestApp;
    /** Answers of the hanging hooks, given only at the end (a late answer must be harmless). */
    const hanging: ((answer: false) => void)[] = [];
    const answerHanging = () => hanging.splice(0).forEach((answer) => answer(false));
    const authenticate = (req: IncomingMessage) => {
      const token = new URL(req.url ?? '/', 'http://x').searchParams.get('token');
      if (token === 'hang') return new Promise<false>((resolve) => hanging.push(resolve)); // settles only when told
      if (token === 'big') return { uid: 'big', session: { blob: 'b'.repeat(4096) } };
      return true;
    };
    beforeAll(async () => {
      t = await startApp(options({ authenticate, authenticateTimeout: AUTH_TIMEOUT, maxSessionBytes: 1024 }));
    });
    afterAll(async () => {
      // Without a timeout the hanging upgrade would hold its socket (and app.close()) for ever.
      answerHanging();
      await t.close();
    });

    it('a hook that never settles is answered 503 auth_timeout after authenticateTimeout, counted', async () => {
      const before = t.push.getMetrics().rejectedUpgrades as Record<string, number>;
      const result = await upgrade(`${t.wsUrl}?token=hang`, {}, AUTH_TIMEOUT + 3000);
      expect(result).toMatchObject({ status: 503, body: { code: 'auth_timeout' } });
      expect(result.elapsed).toBeGreaterThanOrEqual(AUTH_TIMEOUT - 20);
      expect(result.elapsed).toBeLessThan(AUTH_TIMEOUT + 2000);
      const after = t.push.getMetrics().rejectedUpgrades as Record<string, number>;
      expect(after.authTimeout).toBe((before.authTimeout ?? 0) + 1);
      // The hook's answer, long after the refusal, changes nothing; others still get in.
      answerHanging();
      expect(await t.push.getAllClientIdCount()).toBe(0);
      const c = await TestClient.connect(t.wsUrl);
      await t.disconnect([c]);
    });

    it('a session from the hook past maxSessionBytes refuses the upgrade like any bad hook answer (500 auth_error)', async () => {
      const before = t.push.getMetrics().rejectedUpgrades as Record<string, number>;
      const result = await upgrade(`${t.wsUrl}?token=big`);
      expect(result).toMatchObject({ status: 500, body: { code: 'auth_error' } });
      expect((t.push.getMetrics().rejectedUpgrades as Record<string, number>).error).toBe(before.error + 1);
      expect(await t.push.isUidOnline('big')).toBe(false);
    });
  });

  describe('fan-out queue', () => {
    const MEMBERS = 10;
    const MAX_QUEUE = 50;
    let t: TestApp;
    const members: TestClient[] = [];
    beforeAll(async () => {
      // fanoutChunk 4 < 10 members: every group send goes through the queue; 50 writes = 5 sends' worth.
      t = await startApp(options({ fanoutChunk: 4, maxFanoutQueue: MAX_QUEUE }));
      for (let i = 0; i < MEMBERS; i++) {
        const c = await TestClient.connect(t.wsUrl);
        await t.push.joinGroup(c.clientId, 'burst');
        members.push(c);
      }
    });
    afterAll(async () => {
      await t.disconnect(members);
      await t.close();
    });

    it('a burst past maxFanoutQueue: the sends past it reject 503 fanout_queue_full, counted; the rest arrive in order', async () => {
      const before = t.push.getMetrics().limitRefusals?.fanoutQueue ?? 0;
      const BURST = 20;
      // Back to back in one synchronous run: nothing is written before the last one is queued.
      const sends = Array.from({ length: BURST }, (_, i) => t.push.sendToGroup('burst', { n: i }));
      const results = await Promise.all(sends.map(outcome));
      const accepted = results.filter((r) => 'resolved' in r);
      const refused = results.filter((r) => !('resolved' in r));
      expect({ accepted: accepted.length > 0, refused: refused.length > 0 }).toEqual({ accepted: true, refused: true });
      expect(accepted).toEqual(accepted.map(() => ({ resolved: MEMBERS })));
      expect(refused).toEqual(refused.map(() => ({ status: 503, code: 'fanout_queue_full' })));
      // What was accepted fits the queue (at most one send's worth over, depending on where the line is drawn).
      expect(accepted.length * MEMBERS).toBeLessThanOrEqual(MAX_QUEUE + MEMBERS);
      // Accepted first, refused after: once full, the rest of the burst is refused.
      expect(results.slice(0, accepted.length)).toEqual(accepted);
      await expectLimit(sends[sends.length - 1], 503, 'fanout_queue_full', MAX_QUEUE);
      expect(t.push.getMetrics().limitRefusals?.fanoutQueue).toBe(before + refused.length);

      // Once drained the process serves again: the accepted messages, in order, then a new one.
      expect(await t.push.sendToGroup('burst', 'after')).toBe(MEMBERS);
      for (const c of members) {
        for (let i = 0; i < accepted.length; i++) expect(await c.next()).toEqual({ n: i });
        expect(await c.next()).toBe('after');
      }
      expect((await new HttpClient(t.baseUrl).get('/stats')).status).toBe(200);
    });
  });
});

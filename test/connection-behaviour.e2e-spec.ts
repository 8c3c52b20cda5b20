import type { IncomingMessage } from 'node:http';
import { PushService } from 'nest-push-channel';
import { HttpClient, startApp, TestApp } from './support/test-app';
import { TestClient, UpgradeRefused } from './support/test-client';
import { waitFor } from './support/wait';

/** The connection knobs of the README's configuration table, each against a real server. */
describe('connection behaviour', () => {
  // Apps a test starts itself; closed even when the test fails, so Jest never waits on a live server.
  const apps: TestApp[] = [];
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.close().catch(() => undefined)));
  });

  describe('heartbeat', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startApp({ heartbeat: { interval: 100, timeout: 1000 } });
    });
    afterAll(() => t.close());

    it('drops a peer that stops answering pings, with its bindings, and keeps a live one', async () => {
      const live = await TestClient.connect(t.wsUrl);
      // autoPong: false makes this client a dead peer: it never answers protocol pings.
      const dead = await TestClient.connect(t.wsUrl, { autoPong: false });
      await t.push.bindUid(dead.clientId, 'ghost');
      await t.push.joinGroup(dead.clientId, 'ghosts');
      const before = t.push.getMetrics().heartbeatTimeouts;
      const closed = await waitFor(t.events.close$, (e) => e.clientId === dead.clientId, 10_000);
      expect(closed).toMatchObject({ reason: 'heartbeat', uid: 'ghost', groups: ['ghosts'] });
      expect(t.push.getMetrics().heartbeatTimeouts).toBe(before + 1);
      expect(await t.push.isUidOnline('ghost')).toBe(false);
      expect(await t.push.getAllGroupIdList()).toEqual([]);
      // The live client answered every ping in the same window and is still served.
      expect(await t.push.sendToClient(live.clientId, 'alive')).toBe(1);
      expect(await live.next()).toBe('alive');
      await t.disconnect([live]);
    });

    it('uses protocol pings, so a page never sees a heartbeat message', async () => {
      const c = await TestClient.connect(t.wsUrl);
      const pinged = new Promise<void>((resolve) => c.socket.once('ping', () => resolve()));
      await pinged;
      await t.push.sendToClient(c.clientId, 'first app frame');
      expect(await c.next()).toBe('first app frame');
      await t.disconnect([c]);
    });
  });

  describe('slow consumers (maxBufferedBytes)', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startApp({ maxBufferedBytes: 256 * 1024 });
    });
    afterAll(() => t.close());

    it('closes a client that does not read with 1013, counts it, and keeps serving others', async () => {
      const reader = await TestClient.connect(t.wsUrl);
      const stalled = await TestClient.connect(t.wsUrl);
      await t.push.joinGroup(reader.clientId, 'feed');
      await t.push.joinGroup(stalled.clientId, 'feed');
      // Stop reading: the kernel buffers fill, then ws queues in user space.
      (stalled.socket as unknown as { _socket: { pause(): void } })._socket.pause();
      const dropped = waitFor(t.events.close$, (e) => e.clientId === stalled.clientId, 20_000);
      const chunk = { data: 'x'.repeat(16 * 1024) };
      let rounds = 0;
      let delivered = 2;
      // Each send reaches the reader; the stalled one falls out once its queue passes the cap.
      while (delivered === 2 && rounds < 5000) {
        delivered = await t.push.sendToGroup('feed', chunk);
        expect(await reader.next()).toEqual(chunk);
        rounds++;
      }
      expect(delivered).toBe(1);
      expect(await dropped).toMatchObject({ reason: 'slow-consumer', code: 1013, groups: ['feed'] });
      expect(t.push.getMetrics().slowConsumerDrops).toBe(1);
      expect(await t.push.sendToGroup('feed', 'still here')).toBe(1);
      expect(await reader.next()).toBe('still here');
      await t.disconnect([reader]);
    });
  });

  describe('authenticate hook', () => {
    let t: TestApp;
    const authenticate = (req: IncomingMessage) => {
      const token = new URL(req.url ?? '/', 'http://x').searchParams.get('token');
      if (token === 'boom') throw new Error('auth backend down');
      if (token?.startsWith('ok-')) return { uid: token.slice(3), session: { via: 'token' } };
      if (token === 'anon') return true;
      return false;
    };
    beforeAll(async () => {
      t = await startApp({ authenticate });
    });
    afterAll(() => t.close());

    it('binds the uid it names before init, with its session', async () => {
      const connected = waitFor(t.events.connect$);
      const c = await TestClient.connect(`${t.wsUrl}?token=ok-alice`);
      expect(await t.push.getUidByClientId(c.clientId)).toBe('alice');
      expect(await t.push.getSession(c.clientId)).toEqual({ via: 'token' });
      expect(await connected).toMatchObject({ clientId: c.clientId, uid: 'alice', query: { token: 'ok-alice' } });
      await t.disconnect([c]);
    });

    it('accepts anonymously when it answers true', async () => {
      const c = await TestClient.connect(`${t.wsUrl}?token=anon`);
      expect(await t.push.getUidByClientId(c.clientId)).toBeNull();
      await t.disconnect([c]);
    });

    it('refuses with 401 when it answers false, 500 when it throws; both counted', async () => {
      const before = t.push.getMetrics().rejectedUpgrades;
      const refused = await TestClient.open(t.wsUrl).catch((e) => e);
      expect(refused).toBeInstanceOf(UpgradeRefused);
      expect(refused.status).toBe(401);
      expect(JSON.parse(refused.body)).toMatchObject({ code: 'unauthorized' });
      const failed = await TestClient.open(`${t.wsUrl}?token=boom`).catch((e) => e);
      expect(failed.status).toBe(500);
      const after = t.push.getMetrics().rejectedUpgrades;
      expect(after.auth).toBe(before.auth + 1);
      expect(after.error).toBe(before.error + 1);
    });
  });

  describe('events and options', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startApp({
        path: '/push',
        inbound: true,
        initMessage: (clientId) => ({ event: 'hello', id: clientId }),
      });
    });
    afterAll(() => t.close());

    const connect = async (url = t.wsUrl, headers?: Record<string, string>) => {
      const c = await TestClient.open(url, { headers });
      const init = await c.next();
      c.clientId = init.id;
      return { c, init };
    };

    it('serves the configured path with the configured init shape; the default path is gone', async () => {
      expect(t.wsUrl).toMatch(/\/push$/);
      const { c, init } = await connect();
      expect(init).toEqual({ event: 'hello', id: expect.stringMatching(/^[0-9a-f]{48}$/) });
      const refused = await TestClient.open(t.wsUrl.replace(/\/push$/, '/ws')).catch((e) => e);
      expect(refused.status).toBe(404);
      await t.disconnect([c]);
    });

    it('connect carries the remote address, headers, query and cookies', async () => {
      const connected = waitFor(t.events.connect$);
      const { c } = await connect(`${t.wsUrl}?room=7&x=1`, { cookie: 'a=1; sid=xyz', 'x-trace': 'abc' });
      const event = await connected;
      expect(event).toMatchObject({
        clientId: c.clientId,
        remoteAddress: expect.stringMatching(/127\.0\.0\.1/),
        query: { room: '7', x: '1' },
        cookies: { a: '1', sid: 'xyz' },
        headers: expect.objectContaining({ 'x-trace': 'abc' }),
        uid: null,
      });
      await t.disconnect([c]);
    });

    it('with inbound on, a message frame reaches message$ with the uid and session', async () => {
      const { c } = await connect();
      await t.push.bindUid(c.clientId, 'talker');
      await t.push.setSession(c.clientId, { room: 'lobby' });
      const received = waitFor(t.events.message$);
      c.send(JSON.stringify({ type: 'message', data: { text: 'hi server' } }));
      expect(await received).toEqual({
        type: 'message',
        clientId: c.clientId,
        uid: 'talker',
        session: { room: 'lobby' },
        data: { text: 'hi server' },
      });
      await t.disconnect([c]);
    });
  });

  describe('graceful shutdown', () => {
    it('tells clients 1001, refuses new upgrades while draining, and emits close events', async () => {
      const t = await startApp({ shutdownTimeout: 5000 });
      apps.push(t);
      const quick = await TestClient.connect(t.wsUrl);
      const slow = await TestClient.connect(t.wsUrl);
      await t.push.bindUid(quick.clientId, 'leaving');
      const closeEvent = waitFor(t.events.close$, (e) => e.clientId === quick.clientId);
      // The slow client stops reading, so the drain waits for it while we try a new upgrade.
      const raw = (slow.socket as unknown as { _socket: { pause(): void; resume(): void } })._socket;
      raw.pause();
      const closing = t.app.close();
      expect((await quick.closed).code).toBe(1001);
      const refused = await TestClient.open(t.wsUrl).catch((e) => e);
      expect(refused).toBeInstanceOf(UpgradeRefused);
      expect(refused.status).toBe(503);
      expect(await closeEvent).toMatchObject({ reason: 'shutdown', code: 1001, uid: 'leaving' });
      raw.resume();
      expect((await slow.closed).code).toBe(1001);
      await closing;
    });
  });

  describe('gateway off (push-only node)', () => {
    it('has no WebSocket endpoint, and PushService still answers', async () => {
      const t = await startApp({ gateway: false });
      apps.push(t);
      // With no upgrade listener, Node hands the request to the HTTP app, which has no such route.
      const error = await TestClient.open(t.wsUrl).catch((e) => e);
      expect(error).toBeInstanceOf(UpgradeRefused);
      expect(error.status).toBe(404);
      const push = t.app.get(PushService);
      expect(await push.sendToAll('nobody here')).toBe(0);
      expect(await push.getAllClientIdCount()).toBe(0);
      const alice = await new HttpClient(t.baseUrl).login('alice');
      expect((await alice.post('/send', { uid: 'bob', message: 'x' })).body).toEqual({ delivered: 0, held: 0 });
    });
  });
});

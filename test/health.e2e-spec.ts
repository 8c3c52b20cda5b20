import { randomBytes } from 'node:crypto';
import { RedisServer } from './support/redis-server';
import { TcpProxy } from './support/tcp-proxy';
import { startApp, type TestApp } from './support/test-app';
import { TestClient } from './support/test-client';

/**
 * `GET /health` of the example app (terminus + `PushHealthIndicator`), over real HTTP: up on both engines, down
 * while the test's own redis-server is stopped or the subscriber is partitioned, up again after, and down for the
 * whole of a graceful shutdown's drain.
 */

interface Health {
  status: number;
  body: {
    status: 'ok' | 'error' | 'shutting_down';
    info: Record<string, Record<string, unknown>>;
    error: Record<string, Record<string, unknown>>;
    details: Record<string, Record<string, unknown>>;
  };
}

async function health(t: TestApp): Promise<Health> {
  const res = await fetch(`${t.baseUrl}/health`);
  return { status: res.status, body: (await res.json()) as Health['body'] };
}

const POLL_GAP_MS = 20;

/**
 * Polls `/health` until it answers `status`. The pause between polls only spaces the requests out (terminus logs
 * every failed check); correctness rests on the answer, not on the time.
 */
async function healthUntil(t: TestApp, status: number, ms = 10_000): Promise<Health> {
  const deadline = Date.now() + ms;
  for (;;) {
    const last = await health(t);
    if (last.status === status) return last;
    if (Date.now() > deadline) throw new Error(`no ${status} within ${ms} ms; last answer ${JSON.stringify(last)}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_GAP_MS));
  }
}


describe('GET /health', () => {
  const apps: TestApp[] = [];
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.close().catch(() => undefined)));
  });

  it('answers 200 in terminus shape on the memory engine', async () => {
    const t = await startApp();
    apps.push(t);
    const up = await health(t);
    const push = { status: 'up', engine: 'memory', reachable: true, shuttingDown: false };
    expect(up).toEqual({ status: 200, body: { status: 'ok', info: { push }, error: {}, details: { push } } });
  });

  it('answers 503 for the whole drain of a graceful shutdown', async () => {
    const t = await startApp({ shutdownTimeout: 10_000 });
    apps.push(t);
    const quick = await TestClient.connect(t.wsUrl);
    const held = await TestClient.connect(t.wsUrl);
    // This client stops reading, so it never answers the 1001 close and the drain waits for it.
    const raw = (held.socket as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    raw.pause();
    expect((await health(t)).status).toBe(200);

    const closing = t.app.close();
    expect((await quick.closed).code).toBe(1001); // the drain has begun
    const draining = await health(t);
    expect(draining.status).toBe(503);
    expect(['error', 'shutting_down']).toContain(draining.body.status);
    expect(draining.body.error.push).toMatchObject({ status: 'down', shuttingDown: true, message: /shutting down/ });

    raw.resume();
    expect((await held.closed).code).toBe(1001);
    await closing;
  });

  describe('on the Redis engine', () => {
    let redis: RedisServer;
    const prefix = () => `health-${randomBytes(4).toString('hex')}:`;

    beforeAll(async () => {
      redis = await RedisServer.start();
    });
    afterAll(async () => {
      await redis?.close();
    });

    it('is 200 while Redis answers, 503 while it is stopped, and 200 again once it is back', async () => {
      const t = await startApp({ engine: { type: 'redis', url: redis.url, prefix: prefix() } });
      apps.push(t);
      const up = await health(t);
      expect(up.status).toBe(200);
      expect(up.body.status).toBe('ok');
      expect(up.body.info.push).toMatchObject({
        status: 'up',
        engine: 'redis',
        reachable: true,
        subscriber: 'up',
        shuttingDown: false,
      });
      expect(typeof up.body.info.push.latencyMs).toBe('number');

      await redis.stop();
      const down = await healthUntil(t, 503);
      expect(down.body.status).toBe('error');
      expect(down.body.info).toEqual({});
      expect(down.body.error.push).toMatchObject({
        status: 'down',
        engine: 'redis',
        reachable: false,
        shuttingDown: false,
        message: /Redis did not answer a PING/,
      });
      expect(down.body.details).toEqual(down.body.error);

      await redis.restart();
      const back = await healthUntil(t, 200);
      expect(back.body.info.push).toMatchObject({ status: 'up', reachable: true, subscriber: 'up' });
    });

    it('is 503 while the subscriber is deaf (half-open), though Redis answers, until it has recovered', async () => {
      const proxy = await TcpProxy.start(redis.port);
      try {
        // reapInterval 250 ms: a deaf subscriber is found within 3 x 250 ms, then reconnected and resynced.
        const engine = { type: 'redis' as const, url: proxy.url, prefix: prefix(), nodeTtl: 1000 };
        const t = await startApp({ engine });
        apps.push(t);
        expect((await health(t)).status).toBe(200);
        (await proxy.waitFor((conn) => conn.subscriber)).blackhole();

        const down = await healthUntil(t, 503);
        expect(down.body.error.push).toMatchObject({ status: 'down', reachable: true, message: /subscriber/ });
        expect(['deaf', 'resyncing', 'reconnecting']).toContain(down.body.error.push.subscriber);
        const back = await healthUntil(t, 200);
        expect(back.body.info.push).toMatchObject({ subscriber: 'up' });
        expect(t.push.getMetrics().subscriberResets).toBe(1);
      } finally {
        await Promise.all(apps.splice(0).map((app) => app.close().catch(() => undefined)));
        await proxy.close();
      }
    });
  });
});

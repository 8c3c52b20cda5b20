import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { CLUSTER_PROTOCOL_VERSION, RedisKeys } from 'nest-push-channel';
import { parsePrometheusText, type Scrape } from './support/prometheus-text';
import { RedisServer } from './support/redis-server';
import { HttpClient, startApp, type TestApp } from './support/test-app';
import { TestClient, UpgradeRefused } from './support/test-client';
import { eventually, waitFor } from './support/wait';

/**
 * `GET /metrics` of the example app, scraped over real HTTP after known actions on real sockets: every value is
 * the one those actions must produce. The Redis part plays a silent node, a paused Redis, bad cluster messages and
 * an outage against a redis-server of the test's own.
 */

/** The registry's content type, `text/plain; version=0.0.4; charset=utf-8`, as a set (Express reorders it). */
const CONTENT_TYPE = ['charset=utf-8', 'text/plain', 'version=0.0.4'];

async function scrape(t: TestApp): Promise<Scrape> {
  const res = await fetch(`${t.baseUrl}/metrics`);
  expect(res.status).toBe(200);
  const type = (res.headers.get('content-type') ?? '').split(';').map((part) => part.trim().toLowerCase());
  expect(type.sort()).toEqual(CONTENT_TYPE);
  return parsePrometheusText(await res.text());
}

const REASONS = [
  'origin_not_allowed',
  'unauthorized',
  'auth_error',
  'auth_timeout',
  'server_full',
  'too_many_connections',
  'shutting_down',
  'unknown_path',
];
const LIMITS = ['too_many_groups', 'session_too_large', 'fanout_queue_full'];
const RESUME_EVENTS = [
  'detached',
  'resumed',
  'unrecovered',
  'refused',
  'retry_later',
  'replaced',
  'expired',
  'bad_hello',
  'over_limit',
  'replayed_message',
  'gap_resync',
];

describe('GET /metrics (memory engine)', () => {
  const apps: TestApp[] = [];
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.close().catch(() => undefined)));
  });

  it('names every family by Prometheus conventions, and a fresh node reads all zero', async () => {
    const t = await startApp();
    apps.push(t);
    const s = await scrape(t);
    const expected: Record<string, string> = {
      nest_push_connections: 'gauge',
      nest_push_uids: 'gauge',
      nest_push_groups: 'gauge',
      nest_push_fanout_queue_frames: 'gauge',
      nest_push_connections_opened_total: 'counter',
      nest_push_connections_closed_total: 'counter',
      nest_push_frames_delivered_total: 'counter',
      nest_push_slow_consumer_closes_total: 'counter',
      nest_push_heartbeat_timeouts_total: 'counter',
      nest_push_payload_too_large_total: 'counter',
      nest_push_bad_frames_total: 'counter',
      nest_push_upgrades_refused_total: 'counter',
      nest_push_limit_refusals_total: 'counter',
      nest_push_engine_errors_total: 'counter',
      nest_push_engine_resyncs_total: 'counter',
      nest_push_engine_request_timeouts_total: 'counter',
      nest_push_engine_subscriber_resets_total: 'counter',
      nest_push_engine_version_refusals_total: 'counter',
      nest_push_engine_bad_messages_total: 'counter',
      nest_push_node_stats_publish_failures_total: 'counter',
      nest_push_resume_events_total: 'counter',
      nest_push_fanout_duration_seconds: 'histogram',
    };
    expect(Object.fromEntries(s.types)).toEqual(expected);
    for (const [name, type] of Object.entries(expected)) {
      if (type === 'histogram') continue;
      if (name.endsWith('_total')) {
        const series = name === 'nest_push_upgrades_refused_total' ? REASONS.map((r) => `${name}{reason="${r}"}`)
          : name === 'nest_push_limit_refusals_total' ? LIMITS.map((l) => `${name}{limit="${l}"}`)
          : name === 'nest_push_resume_events_total' ? RESUME_EVENTS.map((e) => `${name}{event="${e}"}`)
          : [name];
        for (const one of series) expect([one, s.value(one)]).toEqual([one, 0]);
      } else {
        expect([name, s.value(name)]).toEqual([name, 0]);
      }
    }
    expect(s.value('nest_push_fanout_duration_seconds_count')).toBe(0);
    expect(s.value('nest_push_fanout_duration_seconds_bucket{le="+Inf"}')).toBe(0);
  });

  it('counts an upgrade on an unknown path, answered 404 by the adapter before any gateway sees it', async () => {
    const t = await startApp();
    apps.push(t);
    const refused = await TestClient.connect(t.wsUrl.replace(/\/ws$/, '/not-the-push-path')).catch((e) => e);
    expect(refused).toBeInstanceOf(UpgradeRefused);
    expect((refused as UpgradeRefused).status).toBe(404);
    const s = await scrape(t);
    expect(s.value('nest_push_upgrades_refused_total{reason="unknown_path"}')).toBe(1);
    expect(t.push.getMetrics().rejectedUpgrades.unknownPath).toBe(1);
  });

  it('counts what known actions did: connections, binds, sends, a refused origin, a bad frame, a slow consumer', async () => {
    const t = await startApp({
      allowedOrigins: ['http://app.test'],
      maxBufferedBytes: 256 * 1024,
      maxGroupsPerConnection: 1,
    });
    apps.push(t);
    const [a, b, c] = await Promise.all([1, 2, 3].map(() => TestClient.connect(t.wsUrl)));
    const http = await new HttpClient(t.baseUrl).login('alice');
    expect((await http.post('/bind', { client_id: a.clientId, group: 'room' })).status).toBe(200);
    expect((await http.post('/bind', { client_id: b.clientId })).status).toBe(200);
    // maxGroupsPerConnection is 1: a second group is refused with 409 and counted.
    expect((await http.post('/join', { client_id: a.clientId, group: 'second' })).status).toBe(409);
    expect((await http.post('/send', { uid: 'alice', message: 'hi' })).body).toEqual({ delivered: 2, held: 0 });
    expect(await a.next()).toMatchObject({ data: 'hi' });
    expect(await b.next()).toMatchObject({ data: 'hi' });

    const refused = await TestClient.open(t.wsUrl, { origin: 'http://evil.test' }).catch((e) => e);
    expect(refused).toBeInstanceOf(UpgradeRefused);
    expect(refused.status).toBe(403);

    c.send('not json');
    expect(await c.next()).toMatchObject({ type: 'error', code: 'bad_json' });

    // A client that stops reading: pushes to it are written until its queue passes maxBufferedBytes (1013).
    const slow = await TestClient.connect(t.wsUrl);
    (slow.socket as unknown as { _socket: { pause(): void } })._socket.pause();
    const dropped = waitFor(t.events.close$, (e) => e.clientId === slow.clientId, 20_000);
    const chunk = 'x'.repeat(16 * 1024);
    let calls = 0;
    let written = 0;
    for (let delivered = 1; delivered === 1 && calls < 5000; calls++) {
      delivered = await t.push.sendToClient(slow.clientId, chunk);
      written += delivered;
    }
    expect(await dropped).toMatchObject({ code: 1013, reason: 'slow-consumer' });

    const s = await scrape(t);
    expect(s.value('nest_push_connections')).toBe(3);
    expect(s.value('nest_push_connections_opened_total')).toBe(4);
    expect(s.value('nest_push_connections_closed_total')).toBe(1);
    expect(s.value('nest_push_uids')).toBe(1);
    expect(s.value('nest_push_groups')).toBe(1);
    // 4 init frames, the send to alice's 2 tabs, 1 error frame, and what reached the slow client before the cap.
    expect(s.value('nest_push_frames_delivered_total')).toBe(4 + 2 + 1 + written);
    expect(s.value('nest_push_slow_consumer_closes_total')).toBe(1);
    expect(s.value('nest_push_bad_frames_total')).toBe(1);
    expect(s.value('nest_push_upgrades_refused_total{reason="origin_not_allowed"}')).toBe(1);
    for (const reason of REASONS.filter((r) => r !== 'origin_not_allowed')) {
      expect([reason, s.value(`nest_push_upgrades_refused_total{reason="${reason}"}`)]).toEqual([reason, 0]);
    }
    expect(s.value('nest_push_limit_refusals_total{limit="too_many_groups"}')).toBe(1);
    expect(s.value('nest_push_heartbeat_timeouts_total')).toBe(0);
    expect(s.value('nest_push_fanout_queue_frames')).toBe(0);
    expect(s.value('nest_push_engine_errors_total')).toBe(0);
    // One timed delivery per send that had a recipient: alice's, and every push to the slow client (the last one
    // found the queue full and closed it).
    expect(s.value('nest_push_fanout_duration_seconds_count')).toBe(1 + calls);
    expect(s.value('nest_push_fanout_duration_seconds_bucket{le="+Inf"}')).toBe(1 + calls);
    expect(s.value('nest_push_fanout_duration_seconds_sum')).toBeGreaterThan(0);
    // The scrape and the module's own snapshot agree.
    const snapshot = t.push.getMetrics();
    expect(s.value('nest_push_frames_delivered_total')).toBe(snapshot.framesDelivered);
    expect(s.value('nest_push_connections')).toBe(snapshot.connections);
    await t.disconnect([a, b, c]);
    expect((await scrape(t)).value('nest_push_connections')).toBe(0);
  });

  it('counts a heartbeat timeout', async () => {
    const t = await startApp({ heartbeat: { interval: 50, timeout: 300 } });
    apps.push(t);
    const dead = await TestClient.connect(t.wsUrl, { autoPong: false });
    await waitFor(t.events.close$, (e) => e.clientId === dead.clientId, 10_000);
    const s = await scrape(t);
    expect(s.value('nest_push_heartbeat_timeouts_total')).toBe(1);
    expect(s.value('nest_push_connections')).toBe(0);
    expect(s.value('nest_push_connections_closed_total')).toBe(1);
  });
});

describe('GET /metrics (Redis engine)', () => {
  let redis: RedisServer;
  let admin: Redis;
  let t: TestApp;
  const prefix = `metrics-${randomBytes(4).toString('hex')}:`;

  beforeAll(async () => {
    redis = await RedisServer.start();
    admin = new Redis(redis.url);
    // A long nodeTtl keeps the liveness tick (every nodeTtl / 4 = 15 s) out of these exact counts.
    t = await startApp({ engine: { type: 'redis', url: redis.url, prefix, nodeTtl: 60_000, requestTimeout: 300 } });
  });
  afterAll(async () => {
    await t?.close();
    admin?.disconnect();
    await redis?.close();
  });

  it('counts a call that another node does not answer within requestTimeout', async () => {
    // A node that listens on its channel and never answers: Redis counts it as a receiver.
    const silentNode = randomBytes(8).toString('hex');
    const silent = new Redis(redis.url);
    try {
      await silent.subscribe(new RedisKeys(prefix).nodeChannel(silentNode));
      const http = await new HttpClient(t.baseUrl).login('alice');
      const res = await http.post('/bind', { client_id: silentNode + randomBytes(16).toString('hex') });
      expect(res.status).toBe(503);
      expect(res.body.message).toMatch(/did not answer within 300 ms/);
    } finally {
      silent.disconnect();
    }
    const s = await scrape(t);
    expect(s.value('nest_push_engine_request_timeouts_total')).toBe(1);
    expect(s.value('nest_push_engine_errors_total')).toBe(0);
  });

  it('counts Redis commands that time out as engine errors and request timeouts', async () => {
    await admin.client('PAUSE', '1500', 'ALL');
    // GET /stats asks Redis three counts; the paused server answers none of them within requestTimeout.
    const res = await fetch(`${t.baseUrl}/stats`);
    expect(res.status).toBe(503);
    const s = await scrape(t); // /metrics asks Redis nothing
    expect(s.value('nest_push_engine_errors_total')).toBe(3);
    expect(s.value('nest_push_engine_request_timeouts_total')).toBe(1 + 3);
    await admin.ping(); // answered once the pause is over
  });

  it('counts cluster messages it cannot read or does not know', async () => {
    const channel = new RedisKeys(prefix).nodeChannel(t.push.nodeId);
    await admin.publish(channel, 'no header line');
    await eventually(async () => (await scrape(t)).value('nest_push_engine_bad_messages_total') === 1);
    const unknown = { v: CLUSTER_PROTOCOL_VERSION, o: randomBytes(8).toString('hex'), op: 'frobnicate' };
    await admin.publish(channel, `${JSON.stringify(unknown)}\n`);
    await eventually(async () => (await scrape(t)).value('nest_push_engine_bad_messages_total') === 2);
  });

  it('ignores, logs and counts a message of another protocol version (a mixed-version deploy)', async () => {
    const keys = new RedisKeys(prefix);
    const client = await TestClient.connect(t.wsUrl);
    await t.push.bindUid(client.clientId, 'mixed');
    const other = randomBytes(8).toString('hex');
    // A push to the uid from a newer build, and one from a build before versions (no `v`): neither is delivered.
    await admin.publish(keys.uidChannel('mixed'), `${JSON.stringify({ v: CLUSTER_PROTOCOL_VERSION + 1, o: other, op: 'push' })}\nnewer`);
    await admin.publish(keys.uidChannel('mixed'), `${JSON.stringify({ o: other, op: 'send' })}\nolder`);
    await eventually(async () => (await scrape(t)).value('nest_push_engine_version_refusals_total') === 2);
    expect((await scrape(t)).value('nest_push_engine_bad_messages_total')).toBe(2); // unchanged: counted apart
    await t.push.sendToUid('mixed', 'current');
    expect(await client.next()).toBe('current'); // the first frame it got
    await t.disconnect([client]);
  });

  it('counts connection errors during an outage and the resync after it; local gauges stay true', async () => {
    const client = await TestClient.connect(t.wsUrl);
    const before = await scrape(t);
    expect(before.value('nest_push_engine_resyncs_total')).toBe(0);
    const errorsBefore = before.value('nest_push_engine_errors_total');

    await redis.stop();
    await eventually(async () => (await scrape(t)).value('nest_push_engine_errors_total') > errorsBefore);
    expect((await scrape(t)).value('nest_push_connections')).toBe(1);

    await redis.restart(); // empty, like a cache that lost everything
    await eventually(async () => (await scrape(t)).value('nest_push_engine_resyncs_total') >= 1, 10_000);
    // A restart can bring more than one resync (the subscriber and the command connection each come back), and one
    // may land while the scrape is in flight: the scraped value lies between the counter read before and after it.
    const resyncsBefore = t.push.getMetrics().engineResyncs;
    const after = await scrape(t);
    expect(after.value('nest_push_engine_resyncs_total')).toBeGreaterThanOrEqual(resyncsBefore);
    expect(after.value('nest_push_engine_resyncs_total')).toBeLessThanOrEqual(t.push.getMetrics().engineResyncs);
    expect(after.value('nest_push_connections')).toBe(1);
    expect(await t.push.getAllClientIdList()).toEqual([client.clientId]);
    await t.disconnect([client]);
  });
});

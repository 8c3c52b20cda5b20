import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { NodeStatsPublisher, PushMetrics, RedisKeys, type NodeStats } from 'nest-push-channel';
import { type Browser, type Page } from 'playwright-core';
import type { AppConfig } from '../src/app.config';
import { launchChromium } from './support/chromium';
import { RedisServer } from './support/redis-server';
import { TcpProxy } from './support/tcp-proxy';
import { HttpClient, startApp, TestApp } from './support/test-app';
import { TestClient } from './support/test-client';
import { eventually } from './support/wait';

/*
 * The live dashboard (`GET /dashboard`) and the node stats behind it, on a real redis-server with example-app nodes
 * in this process: the page in headless Chromium shows one node, then a second one joining, its connections and
 * deliveries, and its leaving; the engine methods list live nodes only (a closed node at once, a partitioned one
 * once its snapshot expires); a Redis outage is a visible 503 that clears when Redis is back.
 */

jest.setTimeout(90_000);

/** Publish interval of every node here: short, so the page gets several snapshots per second. */
const INTERVAL = 200;
/** Upper bound for a page condition; generous for a slow CI box, far below the suite timeout. */
const WAIT_MS = 15_000;

/** Reads the page's legend into `LegendItem`s (evaluated in the page). */
const LEGEND_ITEMS_JS = `[...document.querySelectorAll('#legend li[data-node-id]')].map((li) => ({
  id: li.getAttribute('data-node-id'),
  state: li.getAttribute('data-state'),
  points: Number(li.getAttribute('data-points')),
  connections: li.getAttribute('data-connections'),
  deliveredPeak: Number(li.getAttribute('data-delivered-peak')),
}))`;

/** The legend item of one node, as the page exposes it. */
interface LegendItem {
  id: string;
  state: string;
  points: number;
  connections: string;
  deliveredPeak: number;
}

describe('dashboard and node stats (Redis engine, example-app nodes)', () => {
  let redis: RedisServer;
  const prefix = `dash-${randomBytes(4).toString('hex')}:`;
  const engine = (url = redis.url, extra: Record<string, unknown> = {}) => ({
    engine: { type: 'redis' as const, url, prefix, nodeTtl: 2_000, ...extra },
    nodeStatsInterval: INTERVAL,
  });
  const apps: TestApp[] = [];
  const start = async (options: Partial<AppConfig['push']> = engine(), env: NodeJS.ProcessEnv = {}) => {
    const app = await startApp(options, env);
    apps.push(app);
    return app;
  };
  const stop = async (app: TestApp) => {
    apps.splice(apps.indexOf(app), 1);
    await app.close();
  };

  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterAll(async () => {
    for (const app of [...apps].reverse()) await app.close().catch(() => undefined);
    await redis?.close();
  });

  describe('GET /dashboard in headless Chromium', () => {
    let browser: Browser;
    let page: Page;
    let a: TestApp;
    /** Page errors, console errors and failed HTTP requests; `expected` ones are allowed while a test sets it. */
    const problems: string[] = [];
    let expected: RegExp | null = null;
    const problem = (text: string) => {
      if (!expected?.test(text)) problems.push(text);
    };

    /** The legend, as the page shows it now. */
    const legend = (): Promise<LegendItem[]> => page.evaluate(LEGEND_ITEMS_JS) as Promise<LegendItem[]>;
    /**
     * Waits until the page's legend satisfies `check` (the source of a `(items, arg) => boolean` function, run in the
     * page every 50 ms on the legend's items, shaped as `LegendItem`).
     */
    const waitForLegend = (check: string, arg: unknown) =>
      page.waitForFunction(`(${check})(${LEGEND_ITEMS_JS}, ${JSON.stringify(arg)})`, undefined, {
        timeout: WAIT_MS,
        polling: 50,
      });

    beforeAll(async () => {
      a = await start();
      browser = await launchChromium();
      const context = await browser.newContext({ baseURL: a.baseUrl });
      page = await context.newPage();
      page.on('pageerror', (e) => problem(`pageerror: ${e.message}`));
      page.on('response', (r) => {
        if (r.status() >= 400) problem(`HTTP ${r.status()} ${r.request().method()} ${r.url()}`);
      });
      page.on('requestfailed', (r) => problem(`failed: ${r.method()} ${r.url()} ${r.failure()?.errorText}`));
      page.on('console', (m) => {
        if (m.type() === 'error') problem(`console: ${m.text()}`);
      });
    });
    afterAll(async () => {
      await browser?.close();
      if (a) await stop(a);
    });

    it('GET /dashboard/stats answers the snapshot of every publishing node as JSON', async () => {
      const http = new HttpClient(a.baseUrl);
      const res = (await eventually(async () => {
        const r = await http.get<{ node: string; time: number; nodes: NodeStats[] }>('/dashboard/stats');
        return r.body.nodes?.length === 1 ? r : null;
      }))!;
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.body.node).toBe(a.push.nodeId);
      expect(res.body.time).toEqual(expect.any(Number));
      expect(res.body.nodes[0]).toMatchObject({ nodeId: a.push.nodeId, interval: INTERVAL, connections: 0 });
      const page = await http.get('/dashboard');
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
      // Self-contained: nothing is loaded from another origin.
      expect(page.body).not.toMatch(/<script[^>]+src=|<link[^>]+stylesheet|https?:\/\/(?!www\.w3\.org)/);
    });

    it('shows one node, then a second node joining, its connections and deliveries, then its leaving', async () => {
      const response = await page.goto('/dashboard');
      expect(response?.status()).toBe(200);

      // One node, drawn with a few points already (the page polls once per publish interval).
      await waitForLegend(
        '(items, id) => items.length === 1 && items[0].id === id && items[0].state === "live" && items[0].points >= 3',
        a.push.nodeId,
      );
      expect(await page.locator('#served-by').textContent()).toBe(a.push.nodeId);
      expect(await page.locator('#chart-connections').getAttribute('data-series')).toBe('1');

      // Node B joins the same Redis: the page, served by A, draws a second series.
      const b = await start();
      await waitForLegend(
        '(items, ids) => items.length === 2 && ids.every((id) => items.some((i) => i.id === id && i.points >= 3))',
        [a.push.nodeId, b.push.nodeId],
      );
      expect(await page.locator('#chart-connections').getAttribute('data-series')).toBe('2');
      expect(await page.locator('#node-count').textContent()).toBe('2');

      // Three clients on B: B's series reaches 3, A's stays at 0.
      const clients = await Promise.all([1, 2, 3].map(() => TestClient.connect(b.wsUrl)));
      await waitForLegend('(items, id) => items.some((i) => i.id === id && i.connections === "3")', b.push.nodeId);
      expect((await legend()).find((i) => i.id === a.push.nodeId)?.connections).toBe('0');

      // Pushed from A to B's clients: B's deliveries per second rise above 0 on the chart.
      for (const client of clients) await a.push.bindUid(client.clientId, 'watched');
      for (let i = 0; i < 5; i++) expect(await a.push.sendToUid('watched', `m${i}`)).toBe(3);
      for (const client of clients) for (let i = 0; i < 5; i++) expect(await client.next()).toBe(`m${i}`);
      await waitForLegend('(items, id) => items.some((i) => i.id === id && i.deliveredPeak > 0)', b.push.nodeId);
      expect((await legend()).find((i) => i.id === a.push.nodeId)?.deliveredPeak).toBe(0);
      // The table shows B's delivered total as B counts it (the init frames and the 15 pushes).
      const delivered = String(b.push.getMetrics().framesDelivered);
      expect(Number(delivered)).toBeGreaterThanOrEqual(15);
      await page
        .locator(`#nodes-table tr[data-node-id="${b.push.nodeId}"] td:nth-child(5)`, { hasText: new RegExp(`^${delivered}$`) })
        .waitFor({ timeout: WAIT_MS });

      // B shuts down: its series is marked gone (kept for the history window), A is the only live node.
      await b.disconnect(clients);
      await stop(b);
      await waitForLegend(
        '(items, [a, b]) => items.some((i) => i.id === b && i.state === "gone") && ' +
          'items.some((i) => i.id === a && i.state === "live")',
        [a.push.nodeId, b.push.nodeId],
      );
      expect(await page.locator('#node-count').textContent()).toBe('1');
      expect(await page.locator('#error').textContent()).toBe('');
      // No favicon request, no failed request, no console error.
      expect(problems).toEqual([]);
    });

    it('shows a Redis outage as an error (503) and clears it when Redis is back', async () => {
      expected = /HTTP 503 GET .*\/dashboard\/stats|status of 503/;
      try {
        await redis.stop();
        await page.locator('#error', { hasText: /^cluster stats unavailable: 503: / }).waitFor({ timeout: WAIT_MS });
        expect(await page.locator('#status').textContent()).toBe('error');
        await redis.restart();
        await page.locator('#status', { hasText: /^live$/ }).waitFor({ timeout: WAIT_MS });
        expect(await page.locator('#error').textContent()).toBe('');
        // A republished into the empty Redis: its series goes on.
        await waitForLegend(
          '(items, id) => items.some((i) => i.id === id && i.state === "live")',
          a.push.nodeId,
        );
      } finally {
        expected = null;
      }
      expect(problems).toEqual([]);
    });
  });

  describe('engine methods', () => {
    it('list every live node sorted by id, drop a closed node at once and a cut-off node within 3 intervals', async () => {
      const a = await start();
      const b = await start();
      // C reaches Redis through a proxy the test can cut (a network partition, or a crash as Redis sees it).
      const proxy = await TcpProxy.start(redis.port);
      const c = await start(engine(proxy.url, { requestTimeout: 500 }));
      try {
        const ids = [a, b, c].map((t) => t.push.nodeId);
        const client = await TestClient.connect(b.wsUrl);
        let seen: NodeStats[] = [];
        const listed = (await eventually(async () => {
          seen = await a.push.getClusterStats();
          return seen.length === 3 && seen.find((s) => s.nodeId === b.push.nodeId)?.connections === 1 ? seen : null;
        }).catch((error: Error) => {
          throw new Error(`${error.message}; last seen: ${JSON.stringify(seen)}; expected ${ids}`);
        }))!;
        // Sorted by node id, and nothing but the live nodes (the browser test's nodes have stopped).
        expect(listed.map((s) => s.nodeId)).toEqual([...ids].sort());
        // Every node sees the same cluster.
        expect((await c.push.getClusterStats()).map((s) => s.nodeId)).toEqual([...ids].sort());

        // A graceful close removes its snapshot at once: no waiting for the TTL.
        await b.disconnect([client]);
        await stop(b);
        expect((await a.push.getClusterStats()).map((s) => s.nodeId)).not.toContain(b.push.nodeId);

        // C is cut off: it can no longer publish, and its last snapshot expires (3 × interval).
        for (const conn of proxy.connections) conn.blackhole();
        proxy.mode = 'blackhole';
        const cut = Date.now();
        await eventually(
          async () => !(await a.push.getClusterStats()).some((s) => s.nodeId === c.push.nodeId),
          10_000,
        );
        // eslint-disable-next-line no-console
        console.log(`a cut-off node left the cluster stats after ${Date.now() - cut} ms (interval ${INTERVAL} ms)`);
        // C counts its failed publishes instead of throwing.
        const publisher = c.app.get(NodeStatsPublisher);
        await eventually(() => publisher.publishFailures > 0, 10_000);
      } finally {
        await stop(c).catch(() => undefined);
        await proxy.close();
      }
      await stop(a);
    });

    it('skips and counts a value under a stats key that is not a snapshot', async () => {
      const a = await start();
      const admin = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
      await admin.connect();
      try {
        const metrics = a.app.get(PushMetrics);
        await eventually(async () => (await a.push.getClusterStats()).some((s) => s.nodeId === a.push.nodeId));
        const bogus = '0123456789abcdef';
        const liar = 'fedcba9876543210';
        const own = (await a.push.getClusterStats()).find((s) => s.nodeId === a.push.nodeId)!;
        await admin.zadd(new RedisKeys(prefix).nodes, Date.now() + 60_000, bogus, Date.now() + 60_000, liar);
        await admin.set(new RedisKeys(prefix).nodeStats(bogus), 'not json', 'PX', 60_000);
        // Well-formed, but under another node's key.
        await admin.set(new RedisKeys(prefix).nodeStats(liar), JSON.stringify(own), 'PX', 60_000);
        const before = metrics.badClusterMessages;
        const stats = await a.push.getClusterStats();
        expect(stats.map((s) => s.nodeId)).not.toContain(bogus);
        expect(stats.map((s) => s.nodeId)).not.toContain(liar);
        expect(stats.filter((s) => s.nodeId === a.push.nodeId)).toHaveLength(1);
        expect(metrics.badClusterMessages - before).toBe(2);
        await admin.zrem(new RedisKeys(prefix).nodes, bogus, liar);
        await admin.del(new RedisKeys(prefix).nodeStats(bogus), new RedisKeys(prefix).nodeStats(liar));
      } finally {
        admin.disconnect();
        await stop(a);
      }
    });
  });

  describe('DASHBOARD=off', () => {
    it('removes both routes (404 with the JSON error shape), and the rest of the app stays', async () => {
      const t = await start({}, { DASHBOARD: 'off' });
      const http = new HttpClient(t.baseUrl);
      for (const path of ['/dashboard', '/dashboard/stats']) {
        const res = await http.get(path);
        expect(res.status).toBe(404);
        expect(res.body).toMatchObject({ statusCode: 404, error: 'Not Found' });
      }
      expect((await http.get('/stats')).status).toBe(200);
      await stop(t);
    });
  });
});

import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import { launchChromium } from './support/chromium';
import { startApp, TestApp } from './support/test-app';

/**
 * The plain page (`GET /plain`: the seed's demo page, on a bare WebSocket with no subprotocol) in a real headless
 * Chromium: three users in three browser contexts (separate cookie jars) log in, get bound automatically, join a
 * group and exchange messages through the page's own UI. It proves that a page written for the plain protocol sees
 * exactly what it always did: the init frame, then the app's messages as they are, and its own reconnect-and-bind.
 * Every wait is a Playwright auto-waiting locator; negatives are proven with a final marker pushed to everyone
 * (per-socket order means anything sent earlier would have arrived before it).
 */
jest.setTimeout(60_000);

/** Upper bound for a single UI wait; generous for a slow CI box, far below the suite timeout. */
const WAIT_MS = 15_000;

type User = 'alice' | 'bob' | 'carol';
interface Tab {
  uid: User;
  context: BrowserContext;
  page: Page;
  /** Uncaught page errors, console errors and failed HTTP requests, asserted empty at the end. */
  problems: string[];
  /** Failures a test provokes on purpose (matched against each line before it is added to `problems`). */
  allowed: RegExp | null;
}

/** One line of the page's connection log. */
interface ConnEvent {
  kind: string;
  time: string;
  dateTime: string;
  text: string;
}

const exact = (text: string) => new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);

describe('plain page in headless Chromium (example app, memory engine)', () => {
  let t: TestApp;
  let browser: Browser;
  const tabs = {} as Record<User, Tab>;

  /** Runs a test body; on failure saves a screenshot of every tab into /tmp before rethrowing. */
  const withScreenshots = async (name: string, body: () => Promise<void>) => {
    try {
      await body();
    } catch (error) {
      for (const tab of Object.values(tabs)) {
        const path = `/tmp/browser-e2e-${name}-${tab.uid}-${Date.now()}.png`;
        await tab.page.screenshot({ path, fullPage: true }).catch(() => undefined);
        // eslint-disable-next-line no-console
        console.error(`screenshot of ${tab.uid}'s page: ${path}`);
      }
      throw error;
    }
  };

  const msgs = (uid: User) => tabs[uid].page.locator('#log li.msg');
  /** The page's connection log, oldest first. */
  const connEvents = (uid: User): Promise<ConnEvent[]> =>
    tabs[uid].page.$$eval('#events li', (items) =>
      items.map((li) => ({
        kind: li.getAttribute('data-kind') ?? '',
        time: li.querySelector('time')?.textContent ?? '',
        dateTime: li.querySelector('time')?.getAttribute('datetime') ?? '',
        text: li.querySelector('.what')?.textContent ?? '',
      })),
    );
  /** Waits for a connection-log line of `kind` whose text matches. */
  const waitForEvent = (uid: User, kind: string, text: RegExp) =>
    tabs[uid].page
      .locator(`#events li[data-kind="${kind}"] .what`, { hasText: text })
      .last()
      .waitFor({ timeout: WAIT_MS });
  /** Waits until the page shows a client_id other than `previous` and returns it. */
  const waitForNewClientId = async (uid: User, previous: string): Promise<string> => {
    await tabs[uid].page
      .locator('#client-id', { hasText: new RegExp(`^(?!${previous})[0-9a-f]{48}$`) })
      .waitFor({ timeout: WAIT_MS });
    return (await tabs[uid].page.locator('#client-id').textContent()) ?? '';
  };
  const clientIdOf = async (uid: User) => (await tabs[uid].page.locator('#client-id').textContent()) ?? '';
  const waitForMsg = (uid: User, text: string) =>
    msgs(uid).filter({ hasText: exact(text) }).waitFor({ timeout: WAIT_MS });
  const waitForText = (uid: User, selector: string, text: string | RegExp) =>
    tabs[uid].page
      .locator(selector, { hasText: typeof text === 'string' ? exact(text) : text })
      .waitFor({ timeout: WAIT_MS });

  beforeAll(async () => {
    t = await startApp();
    browser = await launchChromium();
    for (const uid of ['alice', 'bob', 'carol'] as const) {
      const context = await browser.newContext({ baseURL: t.baseUrl });
      const page = await context.newPage();
      const tab: Tab = { uid, context, page, problems: [], allowed: null };
      const problem = (line: string) => {
        if (!tab.allowed?.test(line)) tab.problems.push(line);
      };
      page.on('pageerror', (e) => problem(`pageerror: ${e.message}`));
      page.on('response', (r) => {
        if (r.status() >= 400) problem(`HTTP ${r.status()} ${r.request().method()} ${r.url()}`);
      });
      // Every console error counts, "Failed to load resource" included: the browser's own favicon request is not
      // a page request (no 'response' event), so a missing icon shows only here, as a 404.
      page.on('console', (m) => {
        if (m.type() === 'error') problem(`console: ${m.text()}`);
      });
      tabs[uid] = tab;
    }
  });

  afterAll(async () => {
    for (const tab of Object.values(tabs)) await tab.context.close().catch(() => undefined);
    await browser?.close();
    await t?.close();
  });

  it('each page connects, logs in, is bound automatically and joins its group', () =>
    withScreenshots('setup', async () => {
      await Promise.all(
        Object.values(tabs).map(async ({ uid, page }) => {
          const response = await page.goto('/plain');
          expect(response?.status()).toBe(200);
          await waitForText(uid, '#client-id', /^[0-9a-f]{48}$/);
          await waitForText(uid, '#status', 'open');

          await page.locator('#login-uid').fill(uid);
          await page.locator('#login-btn').click();
          await waitForText(uid, '#whoami', uid);
          // The page binds its socket by itself once logged in.
          await waitForText(uid, '#bound', `as ${uid}`);

          if (uid !== 'carol') {
            await page.locator('#group').fill('room1');
            await page.locator('#join-btn').click();
            await waitForText(uid, '#groups', 'room1');
          }
        }),
      );

      // The server agrees with what the pages show.
      for (const uid of ['alice', 'bob', 'carol'] as const) {
        const [clientId] = await t.push.getClientIdByUid(uid);
        expect(clientId).toMatch(/^[0-9a-f]{48}$/);
        expect(await tabs[uid].page.locator('#client-id').textContent()).toBe(clientId);
      }
      expect((await t.push.getClientIdByUid('alice')).length).toBe(1);
      expect(await t.push.getGroupsByClientId((await t.push.getClientIdByUid('bob'))[0])).toEqual(['room1']);
      expect(await t.push.getGroupsByClientId((await t.push.getClientIdByUid('carol'))[0])).toEqual([]);
    }));

  it('delivers a uid message and a group message to exactly the right pages', () =>
    withScreenshots('send', async () => {
      const { page } = tabs.alice;

      // alice → uid bob
      await page.locator('#target-kind').selectOption('uid');
      await page.locator('#target').fill('bob');
      await page.locator('#message').fill('hello bob');
      await page.locator('#send-btn').click();
      await waitForText('alice', '#send-result', 'delivered to 1');
      await waitForMsg('bob', 'alice: hello bob');

      // alice → group room1 (alice and bob are members, carol is not)
      await page.locator('#target-kind').selectOption('group');
      await page.locator('#target').fill('room1');
      await page.locator('#message').fill('hello room1');
      await page.locator('#send-btn').click();
      await waitForText('alice', '#send-result', 'delivered to 2');
      await waitForMsg('alice', 'alice: hello room1');
      await waitForMsg('bob', 'alice: hello room1');

      // Marker to everyone: once a page shows it, everything sent to that socket earlier has been shown too.
      expect(await t.push.sendToAll({ type: 'message', from: 'server', data: 'marker' })).toBe(3);
      for (const uid of ['alice', 'bob', 'carol'] as const) await waitForMsg(uid, 'server: marker');

      expect(await msgs('alice').allTextContents()).toEqual(['alice: hello room1', 'server: marker']);
      expect(await msgs('bob').allTextContents()).toEqual([
        'alice: hello bob',
        'alice: hello room1',
        'server: marker',
      ]);
      expect(await msgs('carol').allTextContents()).toEqual(['server: marker']);

      for (const tab of Object.values(tabs)) {
        expect(await tab.page.locator('#error').textContent()).toBe('');
        expect(tab.problems).toEqual([]);
      }
    }));

  it('has an inline favicon: no 404 for /favicon.ico in the console', () =>
    withScreenshots('favicon', async () => {
      for (const tab of Object.values(tabs)) {
        // Without an icon link the browser asks for /favicon.ico, and the console shows the 404.
        expect(tab.problems).toEqual([]);
        const href = await tab.page.locator('link[rel="icon"]').getAttribute('href', { timeout: WAIT_MS });
        expect(href).toMatch(/^data:image\/svg\+xml,/);
      }
    }));

  it('shows a failed action until the next action succeeds', () =>
    withScreenshots('stale-error', async () => {
      const tab = tabs.alice;
      tab.allowed = /^HTTP 400 POST .*\/send$|^console: Failed to load resource: .* status of 400 /;
      try {
        // A group send without a group: the server answers 400 and the page says so.
        await tab.page.locator('#target-kind').selectOption('group');
        await tab.page.locator('#target').fill('');
        await tab.page.locator('#message').fill('to nobody');
        await tab.page.locator('#send-btn').click();
        await waitForText('alice', '#error', /^send: 400: /);

        // The next action succeeds: the stale error goes.
        await tab.page.locator('#target-kind').selectOption('uid');
        await tab.page.locator('#target').fill('bob');
        await tab.page.locator('#message').fill('after the error');
        await tab.page.locator('#send-btn').click();
        await waitForMsg('bob', 'alice: after the error');
        await waitForText('alice', '#error', '');
        expect(await tab.page.locator('#send-result').textContent()).toBe('delivered to 1');
      } finally {
        tab.allowed = null;
      }
      expect(tab.problems).toEqual([]);
    }));

  it('after the server cuts its socket: reconnects, checks the login again, binds again, logs it all with times', () =>
    withScreenshots('reconnect', async () => {
      const { page } = tabs.alice;
      // A stale error from before the cut...
      await page.locator('#group').fill('');
      await page.locator('#join-btn').click();
      await waitForText('alice', '#error', 'join: type a group name');

      const before = await connEvents('alice');
      const oldId = await clientIdOf('alice');
      expect(await t.push.closeClient(oldId)).toBe(true);
      const newId = await waitForNewClientId('alice', oldId);
      await waitForEvent('alice', 'bind', /^bound as alice, groups: room1$/);

      // ...is gone once the socket is back.
      expect(await page.locator('#error').textContent()).toBe('');
      await waitForText('alice', '#bound', 'as alice');
      expect(await page.locator('#login-check').textContent()).toMatch(
        /^logged in as alice \(checked at \d\d:\d\d:\d\d\.\d{3}\)$/,
      );

      // The log tells the story, in order, each line with its time.
      const events = (await connEvents('alice')).slice(before.length);
      expect(events.map((e) => e.kind)).toEqual(['close', 'reconnect', 'connecting', 'open', 'init', 'login', 'bind']);
      expect(events.map((e) => e.text)).toEqual([
        'closed: code 1000, reason "closed-by-server"',
        'reconnecting in 500 ms',
        expect.stringMatching(/^connecting to ws:\/\/127\.0\.0\.1:\d+\/ws \(retry 1\)$/),
        'socket open',
        `init: client_id ${newId}`,
        'login check (GET /me): logged in as alice',
        'bound as alice, groups: room1',
      ]);
      for (const event of [...before, ...events]) {
        expect(event.time).toMatch(/^\d\d:\d\d:\d\d\.\d{3}$/);
        expect(Number.isNaN(Date.parse(event.dateTime))).toBe(false);
      }
      const times = events.map((e) => Date.parse(e.dateTime));
      expect(times).toEqual([...times].sort((x, y) => x - y));
      // The close is at least the backoff before the next connect.
      expect(times[2] - times[0]).toBeGreaterThanOrEqual(500 - 20);

      // The server agrees: the new socket is alice's, in her group, and receives her pushes.
      expect(await t.push.getClientIdByUid('alice')).toEqual([newId]);
      expect(await t.push.getGroupsByClientId(newId)).toEqual(['room1']);
      expect(await t.push.sendToUid('alice', { type: 'message', from: 'server', data: 'after reconnect' })).toBe(1);
      await waitForMsg('alice', 'server: after reconnect');
      expect(tabs.alice.problems).toEqual([]);
    }));

  it('after a reconnect, a login that ended meanwhile is seen: the page shows it and does not bind', () =>
    withScreenshots('logged-out', async () => {
      const { page } = tabs.carol;
      await waitForText('carol', '#bound', 'as carol');
      // Logged out behind the page's back (another tab of the same browser).
      expect(await page.evaluate(() => fetch('/logout', { method: 'POST' }).then((r) => r.status))).toBe(200);
      expect(await page.locator('#whoami').textContent()).toBe('carol');

      const oldId = await clientIdOf('carol');
      expect(await t.push.destroyClient(oldId)).toBe(true);
      const newId = await waitForNewClientId('carol', oldId);
      await waitForEvent('carol', 'bind', /^not bound: not logged in$/);
      await waitForText('carol', '#whoami', 'nobody');
      expect(await page.locator('#login-check').textContent()).toMatch(/^not logged in \(checked at /);
      expect(await page.locator('#bound').textContent()).toBe('no');
      const events = await connEvents('carol');
      expect(events.map((e) => e.kind).slice(-7)).toEqual([
        'close',
        'reconnect',
        'connecting',
        'open',
        'init',
        'login',
        'bind',
      ]);
      // Cut without a close frame: the browser reports 1006.
      expect(events.at(-7)?.text).toBe('closed: code 1006, no reason, not clean');
      expect(events.at(-2)?.text).toBe('login check (GET /me): not logged in');

      expect(await t.push.getUidByClientId(newId)).toBeNull();
      expect(await t.push.getClientIdByUid('carol')).toEqual([]);
      expect(tabs.carol.problems).toEqual([]);
    }));

  it('keeps only the last 50 connection events', () =>
    withScreenshots('bounded-events', async () => {
      const first = (await connEvents('bob'))[0];
      let id = await clientIdOf('bob');
      // Each cut adds 7 lines (close … bind): 8 cuts pass 50 whatever was there before.
      for (let i = 0; i < 8; i++) {
        expect(await t.push.closeClient(id)).toBe(true);
        id = await waitForNewClientId('bob', id);
        await waitForEvent('bob', 'init', new RegExp(`^init: client_id ${id}$`));
        await waitForText('bob', '#bound', 'as bob');
      }
      const events = await connEvents('bob');
      expect(events).toHaveLength(50);
      expect(events.at(-1)?.kind).toBe('bind');
      // The oldest lines went first.
      expect(Date.parse(events[0].dateTime)).toBeGreaterThan(Date.parse(first.dateTime));
      expect(await t.push.getClientIdByUid('bob')).toEqual([id]);
      expect(tabs.bob.problems).toEqual([]);
    }));
});

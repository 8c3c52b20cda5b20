import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startApp, TestApp } from './support/test-app';

/**
 * The demo page (`GET /`) in a real headless Chromium: three users in three browser contexts (separate cookie
 * jars) log in, get bound automatically, join a group and exchange messages through the page's own UI.
 * Every wait is a Playwright auto-waiting locator; negatives are proven with a final marker pushed to everyone
 * (per-socket order means anything sent earlier would have arrived before it).
 */
jest.setTimeout(60_000);

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
/** Upper bound for a single UI wait; generous for a slow CI box, far below the suite timeout. */
const WAIT_MS = 15_000;

type User = 'alice' | 'bob' | 'carol';
interface Tab {
  uid: User;
  context: BrowserContext;
  page: Page;
  /** Uncaught page errors, console errors and failed HTTP requests, asserted empty at the end. */
  problems: string[];
}

const exact = (text: string) => new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);

describe('demo page in headless Chromium (example app, memory engine)', () => {
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
  const waitForMsg = (uid: User, text: string) =>
    msgs(uid).filter({ hasText: exact(text) }).waitFor({ timeout: WAIT_MS });
  const waitForText = (uid: User, selector: string, text: string | RegExp) =>
    tabs[uid].page
      .locator(selector, { hasText: typeof text === 'string' ? exact(text) : text })
      .waitFor({ timeout: WAIT_MS });

  beforeAll(async () => {
    t = await startApp();
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      headless: true,
      args: CHROMIUM_ARGS,
    });
    for (const uid of ['alice', 'bob', 'carol'] as const) {
      const context = await browser.newContext({ baseURL: t.baseUrl });
      const page = await context.newPage();
      const problems: string[] = [];
      page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
      page.on('response', (r) => {
        // The browser asks for /favicon.ico by itself; the app has none.
        if (r.status() >= 400 && new URL(r.url()).pathname !== '/favicon.ico') {
          problems.push(`HTTP ${r.status()} ${r.request().method()} ${r.url()}`);
        }
      });
      page.on('console', (m) => {
        // Failed HTTP requests are reported above, with their URL.
        if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) {
          problems.push(`console: ${m.text()}`);
        }
      });
      tabs[uid] = { uid, context, page, problems };
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
          const response = await page.goto('/');
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
});

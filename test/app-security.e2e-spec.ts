import { LoginCookie } from '../src/auth/login-cookie';
import { HttpClient, HttpResult, startApp, TestApp } from './support/test-app';
import { TestClient } from './support/test-client';

/**
 * The example app's own defences, over real HTTP and real WebSockets:
 * - cross-site request forgery of its state-changing routes (issue 7 #14): a browser request whose `Origin` (or,
 *   without one, whose `Sec-Fetch-Site`) shows it comes from another site is refused before it does anything;
 * - the login cookie expires (signed expiry + Max-Age) and is Secure behind TLS (#14);
 * - ill-formed strings (lone UTF-16 surrogates) in any field the app reads answer 400, never 500 (#9).
 */
const EVIL = 'https://evil.example';
const LISTED = 'https://app.example';
const COOKIE_NAME = 'push_demo_uid';
const CROSS_SITE = { statusCode: 403, error: 'Forbidden', code: 'cross_site_request', message: expect.any(String) };
const DAY = 24 * 60 * 60;

/** A Cookie header carrying this login-cookie value, as a browser sends it. */
const cookieHeader = (value: string) => `${COOKIE_NAME}=${encodeURIComponent(value)}`;
/** The login cookie's Set-Cookie line of a response, or undefined. */
const loginSetCookie = (res: HttpResult) => res.headers.getSetCookie().find((c) => c.startsWith(`${COOKIE_NAME}=`));

describe('example app security', () => {
  let t: TestApp;
  const sockets: TestClient[] = [];
  const connect = async (app: TestApp = t) => {
    const c = await TestClient.connect(app.wsUrl);
    sockets.push(c);
    return c;
  };
  /** Proves `client` received nothing so far: a marker pushed now is the next frame (per-socket order holds). */
  const expectNothingReceived = async (client: TestClient, app: TestApp = t) => {
    const marker = { marker: Math.random() };
    expect(await app.push.sendToClient(client.clientId, marker)).toBe(1);
    expect(await client.next()).toEqual(marker);
  };

  beforeAll(async () => {
    t = await startApp();
  });
  afterEach(async () => {
    await t.disconnect(sockets.splice(0));
  });
  afterAll(async () => {
    await t.close();
  });

  describe('cross-site requests (#14)', () => {
    it('refuses the forged cross-site form POST /bind with the victim cookie; the socket stays unbound', async () => {
      const attacker = await connect();
      const victim = await new HttpClient(t.baseUrl).login('victim');
      // What evil.example's auto-submitting <form action="http://app/bind" method="post"> makes the victim's
      // browser send: a form body, the victim's cookie, and evil.example's Origin.
      const form = { form: true, headers: { origin: EVIL } };
      const forged = await victim.post('/bind', { client_id: attacker.clientId }, form);
      expect(forged).toMatchObject({ status: 403, body: CROSS_SITE });
      expect(await t.push.getUidByClientId(attacker.clientId)).toBeNull();
      expect(await t.push.isUidOnline('victim')).toBe(false);
    });

    it('refuses the same forgery when the browser also sends Sec-Fetch-Site: cross-site', async () => {
      const attacker = await connect();
      const victim = await new HttpClient(t.baseUrl).login('victim');
      const forged = await victim.post(
        '/bind',
        { client_id: attacker.clientId },
        { form: true, headers: { origin: EVIL, 'sec-fetch-site': 'cross-site' } },
      );
      expect(forged).toMatchObject({ status: 403, body: CROSS_SITE });
      expect(await t.push.getUidByClientId(attacker.clientId)).toBeNull();
    });

    it.each([
      ['a sibling subdomain with no Origin (Sec-Fetch-Site: same-site)', { 'sec-fetch-site': 'same-site' }],
      ['another site with no Origin (Sec-Fetch-Site: cross-site)', { 'sec-fetch-site': 'cross-site' }],
      ['an opaque origin (Origin: null, e.g. a sandboxed iframe)', { origin: 'null' }],
      ['the same host on another port', { origin: 'http://127.0.0.1:1' }],
      ['a malformed Origin', { origin: 'not a url' }],
    ])('refuses a form POST /bind from %s', async (_label, headers: Record<string, string>) => {
      const attacker = await connect();
      const victim = await new HttpClient(t.baseUrl).login('victim');
      const forged = await victim.post('/bind', { client_id: attacker.clientId }, { form: true, headers });
      expect(forged).toMatchObject({ status: 403, body: CROSS_SITE });
      expect(await t.push.getUidByClientId(attacker.clientId)).toBeNull();
    });

    it('refuses a cross-site request on every state-changing route, before it changes anything', async () => {
      const tab = await connect();
      const victim = await new HttpClient(t.baseUrl).login('victim');
      expect((await victim.post('/bind', { client_id: tab.clientId, group: 'room' })).status).toBe(200);
      const victimCookie = victim.cookie;
      const cross = { form: true, headers: { origin: EVIL, 'sec-fetch-site': 'cross-site' } };

      const attempts: Array<[string, Record<string, string>]> = [
        ['/login', { uid: 'attacker' }], // login CSRF: would log the victim in as the attacker
        ['/logout', {}],
        ['/bind', { client_id: tab.clientId, group: 'attackers' }],
        ['/unbind', { client_id: tab.clientId }],
        ['/join', { client_id: tab.clientId, group: 'attackers' }],
        ['/leave', { client_id: tab.clientId, group: 'room' }],
        ['/send', { uid: 'victim', message: 'forged' }],
      ];
      for (const [path, body] of attempts) {
        const res = await victim.post(path, body, cross);
        expect({ path, status: res.status, body: res.body }).toEqual({ path, status: 403, body: CROSS_SITE });
        expect({ path, setCookie: loginSetCookie(res) }).toEqual({ path, setCookie: undefined });
      }
      // Nothing changed: same login, same binding and groups, nothing sent.
      expect(victim.cookie).toBe(victimCookie);
      expect((await victim.get('/me')).body).toEqual({ uid: 'victim' });
      expect(await t.push.getUidByClientId(tab.clientId)).toBe('victim');
      expect(await t.push.getGroupsByClientId(tab.clientId)).toEqual(['room']);
      await expectNothingReceived(tab);
    });

    it('decides before reading the body: a cross-site oversized or malformed body is 403, not 413 / 400', async () => {
      const victim = await new HttpClient(t.baseUrl).login('victim');
      const headers = { origin: EVIL };
      const big = await victim.post('/send', { uid: 'victim', message: 'x'.repeat(20_000) }, { headers });
      expect(big).toMatchObject({ status: 403, body: CROSS_SITE });
      const malformed = await victim.post('/send', null, { raw: '{"uid":', headers });
      expect(malformed).toMatchObject({ status: 403, body: CROSS_SITE });
    });

    it('accepts a same-origin form POST /bind (Origin = the app itself), as the page sends it', async () => {
      const tab = await connect();
      const alice = await new HttpClient(t.baseUrl).login('alice');
      const res = await alice.post(
        '/bind',
        { client_id: tab.clientId },
        { form: true, headers: { origin: t.baseUrl, 'sec-fetch-site': 'same-origin' } },
      );
      expect(res).toMatchObject({ status: 200, body: { client_id: tab.clientId, uid: 'alice' } });
      expect(await t.push.getUidByClientId(tab.clientId)).toBe('alice');
    });

    it('accepts a same-origin login, send and logout', async () => {
      const tab = await connect();
      const same = { headers: { origin: t.baseUrl, 'sec-fetch-site': 'same-origin' } };
      const bob = new HttpClient(t.baseUrl);
      expect((await bob.post('/login', { uid: 'bob' }, same)).status).toBe(200);
      expect((await bob.post('/bind', { client_id: tab.clientId }, same)).status).toBe(200);
      expect((await bob.post('/send', { uid: 'bob', message: 'hi' }, same)).body).toEqual({ delivered: 1, held: 0 });
      expect(await tab.next()).toEqual({ type: 'message', from: 'bob', data: 'hi' });
      expect((await bob.post('/logout', {}, same)).status).toBe(200);
    });

    it('accepts a JSON POST with no Origin and no Sec-Fetch-Site (curl, server-to-server tools)', async () => {
      const tab = await connect();
      const tool = await new HttpClient(t.baseUrl).login('ops');
      expect((await tool.post('/bind', { client_id: tab.clientId })).status).toBe(200);
      expect((await tool.post('/send', { uid: 'ops', message: 'from a script' })).body).toEqual({ delivered: 1, held: 0 });
      expect(await tab.next()).toEqual({ type: 'message', from: 'ops', data: 'from a script' });
    });

    it('accepts a request the user started themselves (Sec-Fetch-Site: none, no Origin)', async () => {
      const headers = { 'sec-fetch-site': 'none' };
      const res = await new HttpClient(t.baseUrl).post('/login', { uid: 'typed' }, { headers });
      expect(res).toMatchObject({ status: 200, body: { uid: 'typed' } });
    });

    it('does not check reads: a cross-site GET answers (it changes nothing, and no CORS header exposes it)', async () => {
      const alice = await new HttpClient(t.baseUrl).login('alice');
      const res = await alice.get('/me', { headers: { origin: EVIL, 'sec-fetch-site': 'cross-site' } });
      expect(res).toMatchObject({ status: 200, body: { uid: 'alice' } });
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
    });

    describe('with PUSH_ALLOWED_ORIGINS', () => {
      let listed: TestApp;
      beforeAll(async () => {
        listed = await startApp({}, { PUSH_ALLOWED_ORIGINS: ` ${LISTED}/ , https://other.example` });
      });
      afterEach(async () => {
        await listed.disconnect(sockets.splice(0));
      });
      afterAll(async () => {
        await listed.close();
      });

      it('accepts a form POST /bind from a listed origin (cross-site for the browser)', async () => {
        const tab = await connect(listed);
        const alice = await new HttpClient(listed.baseUrl).login('alice');
        const res = await alice.post(
          '/bind',
          { client_id: tab.clientId },
          { form: true, headers: { origin: LISTED, 'sec-fetch-site': 'cross-site' } },
        );
        expect(res).toMatchObject({ status: 200, body: { client_id: tab.clientId, uid: 'alice' } });
        expect(await listed.push.getUidByClientId(tab.clientId)).toBe('alice');
      });

      it('still accepts its own origin, and still refuses an unlisted one', async () => {
        const tab = await connect(listed);
        const alice = await new HttpClient(listed.baseUrl).login('alice');
        const forged = await alice.post('/bind', { client_id: tab.clientId }, { headers: { origin: EVIL } });
        expect(forged).toMatchObject({ status: 403, body: CROSS_SITE });
        expect(await listed.push.getUidByClientId(tab.clientId)).toBeNull();
        const own = await alice.post('/bind', { client_id: tab.clientId }, { headers: { origin: listed.baseUrl } });
        expect(own.status).toBe(200);
      });
    });
  });

  describe('login cookie (#14)', () => {
    it('is HttpOnly, SameSite=Lax, carries Max-Age (24 h by default) and is not Secure over plain http', async () => {
      const res = await new HttpClient(t.baseUrl).post('/login', { uid: 'alice' });
      const setCookie = loginSetCookie(res)!;
      expect(setCookie).toMatch(new RegExp(`; Max-Age=${DAY}(;|$)`));
      expect(setCookie).toMatch(/; HttpOnly(;|$)/);
      expect(setCookie).toMatch(/; SameSite=Lax(;|$)/i);
      expect(setCookie).not.toMatch(/; Secure(;|$)/i);
    });

    it('an expired login cookie answers 401 like a missing one', async () => {
      const tab = await connect();
      // Signed with the app's own secret (startApp uses COOKIE_SECRET=test-secret), but expired a minute ago.
      const expired = new LoginCookie('test-secret').sign('alice', Math.floor(Date.now() / 1000) - 60);
      const stale = new HttpClient(t.baseUrl, cookieHeader(expired));
      const bind = await stale.post('/bind', { client_id: tab.clientId });
      expect(bind).toMatchObject({ status: 401, body: { statusCode: 401, error: 'Unauthorized' } });
      expect((await stale.post('/send', { uid: 'alice', message: 'x' })).status).toBe(401);
      expect((await stale.get('/me')).body).toEqual({ uid: null });
      expect(await t.push.getUidByClientId(tab.clientId)).toBeNull();
    });

    describe('with LOGIN_TTL_SECONDS=1 and COOKIE_SECURE=on', () => {
      let short: TestApp;
      beforeAll(async () => {
        short = await startApp({}, { LOGIN_TTL_SECONDS: '1', COOKIE_SECURE: 'on' });
      });
      afterAll(async () => {
        await short.close();
      });

      it('sets Max-Age from LOGIN_TTL_SECONDS and Secure when forced', async () => {
        const res = await new HttpClient(short.baseUrl).post('/login', { uid: 'alice' });
        const setCookie = loginSetCookie(res)!;
        expect(setCookie).toMatch(/; Max-Age=1(;|$)/);
        expect(setCookie).toMatch(/; Secure(;|$)/i);
      });

      it('stops accepting the cookie once its lifetime has passed, even if the client keeps sending it', async () => {
        const alice = await new HttpClient(short.baseUrl).login('alice');
        expect((await alice.get('/me')).body).toEqual({ uid: 'alice' });
        await new Promise((resolve) => setTimeout(resolve, 2100)); // the signed expiry is at most 2 s away
        expect((await alice.get('/me')).body).toEqual({ uid: null });
        expect((await alice.post('/send', { all: true, message: 'x' })).status).toBe(401);
      });
    });
  });

  describe('ill-formed strings (#9)', () => {
    const BAD_REQUEST = { statusCode: 400, error: 'Bad Request', message: expect.any(String) };

    it('POST /login with a lone-surrogate uid → 400 (not 500), and no cookie', async () => {
      const res = await new HttpClient(t.baseUrl).post('/login', null, { raw: '{"uid":"\\ud800"}' });
      expect(res).toMatchObject({ status: 400, body: BAD_REQUEST });
      expect(res.body.message).toMatch(/uid/);
      expect(loginSetCookie(res)).toBeUndefined();
      const low = await new HttpClient(t.baseUrl).post('/login', null, { raw: '{"uid":"a\\udc00b"}' });
      expect(low).toMatchObject({ status: 400, body: BAD_REQUEST });
    });

    it('a well-formed astral uid (a surrogate pair) is fine', async () => {
      const res = await new HttpClient(t.baseUrl).post('/login', { uid: 'emoji 😀' });
      expect(res).toMatchObject({ status: 200, body: { uid: 'emoji 😀' } });
    });

    it('POST /bind with a lone-surrogate group → 400, and nothing is bound', async () => {
      const tab = await connect();
      const alice = await new HttpClient(t.baseUrl).login('alice');
      const raw = JSON.stringify({ client_id: tab.clientId, group: 'x' }).replace('"x"', '"room\\ud83d"');
      const res = await alice.post('/bind', null, { raw });
      expect(res).toMatchObject({ status: 400, body: BAD_REQUEST });
      expect(res.body.message).toMatch(/group/);
      expect(await t.push.getUidByClientId(tab.clientId)).toBeNull();
      expect(await t.push.getAllGroupIdList()).toEqual([]);
    });

    it.each([
      ['/join group', '/join', '{"client_id":"CID","group":"\\udfff"}', /group/],
      ['/leave group', '/leave', '{"client_id":"CID","group":"\\ud800"}', /group/],
      ['/send uid', '/send', '{"uid":"\\ud800","message":"x"}', /uid/],
      ['/send group', '/send', '{"group":"g\\ud800","message":"x"}', /group/],
      ['/bind client_id', '/bind', '{"client_id":"\\ud800"}', /client_id/],
    ])('%s with a lone surrogate → 400', async (_label, path, template, field) => {
      const tab = await connect();
      const alice = await new HttpClient(t.baseUrl).login('alice');
      expect((await alice.post('/bind', { client_id: tab.clientId })).status).toBe(200);
      const res = await alice.post(path, null, { raw: template.replace('CID', tab.clientId) });
      expect(res).toMatchObject({ status: 400, body: BAD_REQUEST });
      expect(res.body.message).toMatch(field);
      await expectNothingReceived(tab);
    });

    it('GET /presence/:uid with the encoding of a lone surrogate → 400 JSON', async () => {
      const res = await new HttpClient(t.baseUrl).get('/presence/%ED%A0%80');
      expect(res).toMatchObject({ status: 400, body: { statusCode: 400, error: 'Bad Request' } });
      expect((await new HttpClient(t.baseUrl).get('/presence/%F0%9F%98%80')).body).toEqual({
        uid: '😀',
        online: false,
        connections: 0,
      });
    });
  });
});

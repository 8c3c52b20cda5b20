import { HttpClient, startApp, TestApp } from './support/test-app';
import { TestClient } from './support/test-client';

/**
 * The example app's request-body contract, byte for byte: every refused body answers exactly this status and this
 * JSON (a single string `message` naming the field, in a fixed order of checks), for JSON and form bodies alike;
 * extra fields are ignored; `message` reaches recipients exactly as sent; and the login cookie's Set-Cookie lines
 * keep their attributes and order. Recorded against the hand-written field checks before they became DTOs, so it
 * proves the DTOs + ValidationPipe answer the same.
 */
describe('request bodies (example app): exact answers', () => {
  let t: TestApp;
  let alice: HttpClient;
  let anonymous: HttpClient;
  const sockets: TestClient[] = [];
  const connect = async () => {
    const c = await TestClient.connect(t.wsUrl);
    sockets.push(c);
    return c;
  };
  const bad = (message: string) => ({ status: 400, body: { statusCode: 400, error: 'Bad Request', message } });
  const NOT_OBJECT = 'body must be a JSON object or an application/x-www-form-urlencoded form';
  const LONE = '\ud800';
  const ILL_FORMED = (field: string) => `${field} must be well-formed Unicode (it contains a lone UTF-16 surrogate)`;
  const HEX48 = 'ab'.repeat(24);

  beforeAll(async () => {
    t = await startApp();
    alice = await new HttpClient(t.baseUrl).login('alice');
    anonymous = new HttpClient(t.baseUrl);
  });
  afterEach(async () => {
    await t.disconnect(sockets.splice(0));
  });
  afterAll(async () => {
    await t.close();
  });

  /** [label, request, expected status and exact body] */
  type Row = [string, () => Promise<{ status: number; body: unknown }>, { status: number; body: unknown }];
  const json = (path: string, body: unknown, who = () => alice) => () => who().post(path, body);
  const form = (path: string, raw: string, who = () => alice) =>
    () => who().post(path, null, { raw, contentType: 'application/x-www-form-urlencoded' });
  const raw = (path: string, text: string, contentType: string, who = () => alice) =>
    () => who().post(path, null, { raw: text, contentType });

  const rows: Row[] = [
    // POST /login
    ['login: no uid', json('/login', {}, () => anonymous), bad('uid is required')],
    ['login: uid null', json('/login', { uid: null }, () => anonymous), bad('uid is required')],
    ['login: empty uid', json('/login', { uid: '' }, () => anonymous), bad('uid is required')],
    ['login: numeric uid', json('/login', { uid: 7 }, () => anonymous), bad('uid must be a string')],
    ['login: boolean uid', json('/login', { uid: true }, () => anonymous), bad('uid must be a string')],
    ['login: object uid', json('/login', { uid: { a: 1 } }, () => anonymous), bad('uid must be a string')],
    ['login: array uid', json('/login', { uid: ['a'] }, () => anonymous), bad('uid must be a string')],
    ['login: 257-char uid', json('/login', { uid: 'u'.repeat(257) }, () => anonymous), bad('uid must be at most 256 characters')],
    // UTF-16 length, as today: 129 astral characters are 258 code units.
    ['login: 129 emoji', json('/login', { uid: '😀'.repeat(129) }, () => anonymous), bad('uid must be at most 256 characters')],
    ['login: lone surrogate', raw('/login', '{"uid":"\\ud800"}', 'application/json', () => anonymous), bad(ILL_FORMED('uid'))],
    // Length is checked before well-formedness.
    ['login: long and ill-formed', json('/login', { uid: LONE + 'u'.repeat(256) }, () => anonymous), bad('uid must be at most 256 characters')],
    ['login: array body', json('/login', [{ uid: 'a' }], () => anonymous), bad(NOT_OBJECT)],
    ['login: empty array body', json('/login', [], () => anonymous), bad(NOT_OBJECT)],
    ['login: text/plain body', raw('/login', 'uid=a', 'text/plain', () => anonymous), bad(NOT_OBJECT)],
    ['login: no body', raw('/login', '', 'text/plain', () => anonymous), bad(NOT_OBJECT)],
    // An empty JSON body is parsed as {}.
    ['login: empty JSON body', raw('/login', '', 'application/json', () => anonymous), bad('uid is required')],
    ['login: JSON string body', raw('/login', '"alice"', 'application/json', () => anonymous), bad('body is not valid JSON')],
    ['login: JSON null body', raw('/login', 'null', 'application/json', () => anonymous), bad('body is not valid JSON')],
    ['login: form, empty uid', form('/login', 'uid=', () => anonymous), bad('uid is required')],
    ['login: form, no uid', form('/login', 'other=1', () => anonymous), bad('uid is required')],
    ['login: form, repeated uid', form('/login', 'uid=a&uid=b', () => anonymous), bad('uid must be a string')],
    ['login: form, long uid', form('/login', `uid=${'u'.repeat(257)}`, () => anonymous), bad('uid must be at most 256 characters')],
    ['login: form, empty body', form('/login', '', () => anonymous), bad('uid is required')],
    // POST /bind
    ['bind: no client_id', json('/bind', {}), bad('client_id is required')],
    ['bind: client_id null', json('/bind', { client_id: null }), bad('client_id is required')],
    ['bind: numeric client_id', json('/bind', { client_id: 42 }), bad('client_id must be a string')],
    ['bind: 129-char client_id', json('/bind', { client_id: 'c'.repeat(129) }), bad('client_id must be at most 128 characters')],
    ['bind: lone-surrogate client_id', json('/bind', { client_id: LONE }), bad(ILL_FORMED('client_id'))],
    // client_id is checked before group.
    ['bind: both bad', json('/bind', { client_id: '', group: '' }), bad('client_id is required')],
    ['bind: group null', json('/bind', { client_id: HEX48, group: null }), bad('group is required')],
    ['bind: empty group', json('/bind', { client_id: HEX48, group: '' }), bad('group is required')],
    ['bind: numeric group', json('/bind', { client_id: HEX48, group: 3 }), bad('group must be a string')],
    ['bind: 257-char group', json('/bind', { client_id: HEX48, group: 'g'.repeat(257) }), bad('group must be at most 256 characters')],
    ['bind: lone-surrogate group', json('/bind', { client_id: HEX48, group: LONE }), bad(ILL_FORMED('group'))],
    ['bind: array body', json('/bind', [HEX48]), bad(NOT_OBJECT)],
    ['bind: form, empty client_id', form('/bind', 'client_id='), bad('client_id is required')],
    ['bind: form, empty group', form('/bind', `client_id=${HEX48}&group=`), bad('group is required')],
    // POST /unbind, /join, /leave
    ['unbind: no client_id', json('/unbind', { group: 'g' }), bad('client_id is required')],
    ['unbind: array body', json('/unbind', []), bad(NOT_OBJECT)],
    ['join: no group', json('/join', { client_id: HEX48 }), bad('group is required')],
    ['join: no client_id, no group', json('/join', {}), bad('client_id is required')],
    ['join: numeric client_id', json('/join', { client_id: 1, group: 'g' }), bad('client_id must be a string')],
    ['leave: 257-char group', json('/leave', { client_id: HEX48, group: 'g'.repeat(257) }), bad('group must be at most 256 characters')],
    ['leave: text/plain body', raw('/leave', 'x', 'text/plain'), bad(NOT_OBJECT)],
    ['leave: form, no group', form('/leave', `client_id=${HEX48}`), bad('group is required')],
    // POST /send: the target count first, then message, then the chosen target.
    ['send: nothing', json('/send', {}), bad('give exactly one of uid, group, client_id or all: true')],
    ['send: no target', json('/send', { message: 'x' }), bad('give exactly one of uid, group, client_id or all: true')],
    ['send: two targets', json('/send', { uid: 'b', all: true, message: 'x' }), bad('give exactly one of uid, group, client_id or all: true')],
    ['send: two bad targets, no message', json('/send', { uid: '', group: '' }), bad('give exactly one of uid, group, client_id or all: true')],
    // null counts as given (only undefined is absent), then fails as the target.
    ['send: uid null', json('/send', { uid: null, message: 'x' }), bad('uid is required')],
    ['send: uid null and group', json('/send', { uid: null, group: 'g', message: 'x' }), bad('give exactly one of uid, group, client_id or all: true')],
    ['send: no message', json('/send', { uid: 'bob' }), bad('message is required')],
    ['send: message null', json('/send', { uid: 'bob', message: null }), bad('message is required')],
    ['send: empty message', json('/send', { uid: 'bob', message: '' }), bad('message is required')],
    ['send: bad target and no message', json('/send', { uid: '' }), bad('message is required')],
    ['send: all false and no message', json('/send', { all: false }), bad('message is required')],
    ['send: empty uid', json('/send', { uid: '', message: 'x' }), bad('uid is required')],
    ['send: numeric uid', json('/send', { uid: 5, message: 'x' }), bad('uid must be a string')],
    ['send: 257-char uid', json('/send', { uid: 'u'.repeat(257), message: 'x' }), bad('uid must be at most 256 characters')],
    ['send: lone-surrogate uid', json('/send', { uid: LONE, message: 'x' }), bad(ILL_FORMED('uid'))],
    ['send: empty group', json('/send', { group: '', message: 'x' }), bad('group is required')],
    ['send: array group', json('/send', { group: ['g'], message: 'x' }), bad('group must be a string')],
    ['send: 257-char group', json('/send', { group: 'g'.repeat(257), message: 'x' }), bad('group must be at most 256 characters')],
    ['send: lone-surrogate group', json('/send', { group: LONE, message: 'x' }), bad(ILL_FORMED('group'))],
    ['send: empty client_id', json('/send', { client_id: '', message: 'x' }), bad('client_id is required')],
    ['send: 129-char client_id', json('/send', { client_id: 'c'.repeat(129), message: 'x' }), bad('client_id must be at most 128 characters')],
    ['send: all false', json('/send', { all: false, message: 'x' }), bad('all must be true')],
    ['send: all null', json('/send', { all: null, message: 'x' }), bad('all must be true')],
    ['send: all 1', json('/send', { all: 1, message: 'x' }), bad('all must be true')],
    ['send: all "yes"', json('/send', { all: 'yes', message: 'x' }), bad('all must be true')],
    ['send: array body', json('/send', [{ all: true, message: 'x' }]), bad(NOT_OBJECT)],
    ['send: text/plain body', raw('/send', 'all=true&message=x', 'text/plain'), bad(NOT_OBJECT)],
    ['send: form, no target', form('/send', 'message=x'), bad('give exactly one of uid, group, client_id or all: true')],
    ['send: form, empty message', form('/send', 'all=true&message='), bad('message is required')],
    ['send: form, all=false', form('/send', 'all=false&message=x'), bad('all must be true')],
    ['send: form, all=', form('/send', 'all=&message=x'), bad('all must be true')],
    ['send: form, empty uid', form('/send', 'uid=&message=x'), bad('uid is required')],
    ['send: form, repeated group', form('/send', 'group=a&group=b&message=x'), bad('group must be a string')],
    // Guards still run before bodies are read.
    ['send: anonymous, bad body', json('/send', [], () => anonymous), {
      status: 401,
      body: { statusCode: 401, error: 'Unauthorized', message: 'log in first (POST /login)' },
    }],
  ];

  it.each(rows)('%s', async (_label, call, expected) => {
    const res = await call();
    expect({ status: res.status, body: res.body }).toEqual(expected);
  });

  it('ignores fields it does not know, in JSON and in forms', async () => {
    const login = await anonymous.post('/login', { uid: 'carol', admin: true, constructor: 1, prototype: { x: 1 } });
    expect({ status: login.status, body: login.body }).toEqual({ status: 200, body: { uid: 'carol' } });
    const tab = await connect();
    const bind = await alice.post('/bind', null, {
      raw: `client_id=${tab.clientId}&group=room&extra=1&__proto__=x`,
      contentType: 'application/x-www-form-urlencoded',
    });
    expect({ status: bind.status, body: bind.body }).toEqual({
      status: 200,
      body: { client_id: tab.clientId, uid: 'alice', groups: ['room'] },
    });
    const sent = await alice.post('/send', { client_id: tab.clientId, message: 'hi', extra: [1, 2], uid: undefined });
    expect({ status: sent.status, body: sent.body }).toEqual({ status: 200, body: { delivered: 1, held: 0 } });
    expect(await tab.next()).toEqual({ type: 'message', from: 'alice', data: 'hi' });
  });

  it('delivers message exactly as sent: any JSON value, keys such as constructor, prototype and __proto__ kept', async () => {
    const tab = await connect();
    expect((await alice.post('/bind', { client_id: tab.clientId })).status).toBe(200);
    const messages: string[] = [
      '{"constructor":{"x":1},"prototype":2,"__proto__":{"polluted":true},"nested":[{"constructor":null}]}',
      '[1,"two",{"three":3},null]',
      '0',
      'false',
      '"  spaced  "',
      '{}',
    ];
    for (const message of messages) {
      const frame = new Promise<string>((resolve) => tab.socket.once('message', (data) => resolve(data.toString())));
      const res = await alice.post('/send', null, { raw: `{"uid":"alice","message":${message}}` });
      expect({ status: res.status, body: res.body }).toEqual({ status: 200, body: { delivered: 1, held: 0 } });
      // Compared as JSON text, so an own "__proto__" key counts like any other.
      expect(await frame).toBe(`{"type":"message","from":"alice","data":${message}}`);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('delivers a deeply nested message (depth 3000, under the body limit) instead of answering 500', async () => {
    // Only the top-level fields are the DTO's: validating the nested message recursed until the stack overflowed.
    const tab = await connect();
    expect((await alice.post('/bind', { client_id: tab.clientId })).status).toBe(200);
    const message = `${'['.repeat(3000)}${']'.repeat(3000)}`;
    const frame = new Promise<string>((resolve) => tab.socket.once('message', (data) => resolve(data.toString())));
    const res = await alice.post('/send', null, { raw: `{"uid":"alice","message":${message}}` });
    expect({ status: res.status, body: res.body }).toEqual({ status: 200, body: { delivered: 1, held: 0 } });
    expect(await frame).toBe(`{"type":"message","from":"alice","data":${message}}`);
  });

  it('sets and clears the login cookie with the same Set-Cookie lines', async () => {
    const login = await new HttpClient(t.baseUrl).post('/login', { uid: 'dave' });
    const lines = login.headers.getSetCookie();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^push_demo_uid=s%3A\d+\.dave\.[A-Za-z0-9+%]+; Max-Age=86400; Path=\/; Expires=\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT; HttpOnly; SameSite=Lax$/,
    );
    const expires = Date.parse(/Expires=([^;]+)/.exec(lines[0])![1]);
    expect(Math.abs(expires - (Date.now() + 86_400_000))).toBeLessThan(60_000);
    const logout = await new HttpClient(t.baseUrl).post('/logout', {});
    expect({ status: logout.status, body: logout.body }).toEqual({ status: 200, body: { uid: null } });
    expect(logout.headers.getSetCookie()).toEqual([
      'push_demo_uid=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax',
    ]);
  });

  it('answers GET /presence/:uid for a plain uid and refuses an encoded lone surrogate', async () => {
    const ok = await anonymous.get('/presence/alice');
    expect({ status: ok.status, body: ok.body }).toEqual({
      status: 200,
      body: { uid: 'alice', online: false, connections: 0 },
    });
    const refused = await anonymous.get('/presence/%ED%A0%80');
    // The router refuses it before the controller (with its own wording); the controller's check stays as a backstop.
    expect({ status: refused.status, statusCode: refused.body.statusCode }).toEqual({ status: 400, statusCode: 400 });
  });
});

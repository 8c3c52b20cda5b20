import { HttpClient, startApp, TestApp } from './support/test-app';
import { TestClient, UpgradeRefused } from './support/test-client';

/**
 * The bad-input table of the README, row by row. Every row gets its precise error (HTTP status + JSON body,
 * an error frame, or a close code), and afterwards a bystander socket is still served.
 */
describe('bad input', () => {
  const MAX_PAYLOAD = 1024;
  const ALLOWED = 'https://app.example';
  let t: TestApp;
  let bystander: TestClient;
  let alice: HttpClient;
  let anonymous: HttpClient;

  beforeAll(async () => {
    t = await startApp({ maxPayload: MAX_PAYLOAD, allowedOrigins: [ALLOWED] });
    bystander = await TestClient.connect(t.wsUrl);
    alice = await new HttpClient(t.baseUrl).login('alice');
    anonymous = new HttpClient(t.baseUrl);
  });
  afterAll(async () => {
    await t.disconnect([bystander]);
    await t.close();
  });
  afterEach(async () => {
    // The process keeps serving everyone else.
    const n = Math.random();
    expect(await t.push.sendToClient(bystander.clientId, { still: n })).toBe(1);
    expect(await bystander.next()).toEqual({ still: n });
  });

  describe('WebSocket frames', () => {
    let c: TestClient;
    beforeEach(async () => {
      c = await TestClient.connect(t.wsUrl);
    });
    afterEach(async () => {
      if (c.socket.readyState === c.socket.OPEN) await t.disconnect([c]);
    });

    it.each([
      { label: 'malformed JSON', frame: '{"type":', code: 'bad_json' },
      { label: 'a JSON value that is not an object', frame: '[1,2,3]', code: 'bad_frame' },
      { label: 'an object without a string type', frame: '{"data":1}', code: 'bad_frame' },
      { label: 'an unknown event', frame: '{"type":"subscribe","channel":"x"}', code: 'unknown_event' },
      { label: 'a message while inbound (two-way) is off', frame: '{"type":"message","data":"hi"}', code: 'inbound_disabled' },
    ])('$label → an error frame with code $code, connection kept', async ({ frame, code }) => {
      const before = t.push.getMetrics().badFrames;
      c.send(frame);
      expect(await c.next()).toEqual({ type: 'error', code, message: expect.any(String) });
      expect(t.push.getMetrics().badFrames).toBe(before + 1);
      expect(await t.push.isOnline(c.clientId)).toBe(true);
    });

    it('a binary frame → error frame binary_unsupported', async () => {
      c.send(Buffer.from([1, 2, 3]), true);
      expect(await c.next()).toMatchObject({ type: 'error', code: 'binary_unsupported' });
    });

    it('an application ping is accepted silently', async () => {
      c.send('{"type":"ping"}');
      await t.push.sendToClient(c.clientId, 'after ping');
      expect(await c.next()).toBe('after ping');
    });

    it('a frame over maxPayload → closed with 1009 and counted', async () => {
      const before = t.push.getMetrics().payloadTooLarge;
      c.send(JSON.stringify({ type: 'message', data: 'x'.repeat(MAX_PAYLOAD) }));
      expect((await c.closed).code).toBe(1009);
      expect(t.push.getMetrics().payloadTooLarge).toBe(before + 1);
    });
  });

  describe('upgrades', () => {
    it('an upgrade on a wrong path → 404 with a JSON body', async () => {
      const refused = await TestClient.open(t.wsUrl.replace(/\/ws$/, '/nope')).catch((e) => e);
      expect(refused).toBeInstanceOf(UpgradeRefused);
      expect(refused.status).toBe(404);
      expect(JSON.parse(refused.body)).toMatchObject({ statusCode: 404, message: expect.stringContaining('/nope') });
    });

    it('a foreign origin when the allow-list is set → 403 and counted', async () => {
      const before = t.push.getMetrics().rejectedUpgrades.origin;
      const refused = await TestClient.open(t.wsUrl, { origin: 'https://evil.example' }).catch((e) => e);
      expect(refused).toBeInstanceOf(UpgradeRefused);
      expect(refused.status).toBe(403);
      expect(JSON.parse(refused.body)).toMatchObject({ code: 'origin_not_allowed' });
      expect(t.push.getMetrics().rejectedUpgrades.origin).toBe(before + 1);
    });

    it('an allowed origin is accepted', async () => {
      const c = await TestClient.connect(t.wsUrl, { origin: ALLOWED });
      expect(c.clientId).toMatch(/^[0-9a-f]{48}$/);
      await t.disconnect([c]);
    });
  });

  describe('HTTP', () => {
    const hex48 = 'ab'.repeat(24);
    const rows: Array<[string, () => Promise<{ status: number; body: any }>, number, RegExp]> = [
      ['bind without login', () => anonymous.post('/bind', { client_id: hex48 }), 401, /log in/],
      ['send without login', () => anonymous.post('/send', { all: true, message: 'x' }), 401, /log in/],
      ['bind with a malformed client_id', () => alice.post('/bind', { client_id: 'not-an-id' }), 400, /client_id/],
      ['bind with an upper-case client_id', () => alice.post('/bind', { client_id: hex48.toUpperCase() }), 400, /client_id/],
      ['bind with a client_id that is not a string', () => alice.post('/bind', { client_id: 42 }), 400, /client_id/],
      ['bind with no client_id', () => alice.post('/bind', {}), 400, /client_id is required/],
      ['bind with an empty client_id (form)', () => alice.post('/bind', { client_id: '' }, { form: true }), 400, /client_id is required/],
      ['bind with an unknown (forged) client_id', () => alice.post('/bind', { client_id: hex48 }), 404, /not connected/],
      ['bind with an empty group', () => alice.post('/bind', { client_id: hex48, group: '' }), 400, /group is required/],
      ['bind with an over-long group', () => alice.post('/bind', { client_id: hex48, group: 'g'.repeat(257) }), 400, /group must be at most 256/],
      ['bind with a JSON array body', () => alice.post('/bind', [hex48]), 400, /body must be/],
      ['bind with malformed JSON', () => alice.post('/bind', null, { raw: '{"client_id":' }), 400, /not valid JSON/],
      ['login with an empty uid', () => anonymous.post('/login', { uid: '' }), 400, /uid is required/],
      ['login with an over-long uid', () => anonymous.post('/login', { uid: 'u'.repeat(257) }), 400, /uid must be at most 256/],
      ['login with no body', () => anonymous.post('/login', null, { raw: '', contentType: 'text/plain' }), 400, /uid is required|body must be/],
      ['send with no target', () => alice.post('/send', { message: 'x' }), 400, /exactly one of/],
      ['send with two targets', () => alice.post('/send', { uid: 'bob', group: 'g', message: 'x' }), 400, /exactly one of/],
      ['send with all: false', () => alice.post('/send', { all: false, message: 'x' }), 400, /all must be true/],
      ['send with no message', () => alice.post('/send', { uid: 'bob' }), 400, /message is required/],
      ['send with an empty message', () => alice.post('/send', { uid: 'bob', message: '' }), 400, /message is required/],
      ['send to an empty uid', () => alice.post('/send', { uid: '', message: 'x' }), 400, /uid is required/],
      ['send to an over-long uid', () => alice.post('/send', { uid: 'u'.repeat(257), message: 'x' }), 400, /uid must be at most 256/],
      ['send to an over-long group', () => alice.post('/send', { group: 'g'.repeat(257), message: 'x' }), 400, /group must be at most 256/],
      ['send to a malformed client_id', () => alice.post('/send', { client_id: 'zz', message: 'x' }), 400, /client_id/],
      ['send with an oversized body', () => alice.post('/send', { all: true, message: 'x'.repeat(17 * 1024) }), 413, /at most 16kb/],
      ['send with an oversized form body', () => alice.post('/send', { all: 'true', message: 'x'.repeat(17 * 1024) }, { form: true }), 413, /at most 16kb/],
      ['join with an unknown client_id', () => alice.post('/join', { client_id: hex48, group: 'g' }), 404, /not connected/],
    ];

    it.each(rows.map(([label, call, status, message]) => ({ label, call, status, message })))(
      '$label → $status',
      async ({ call, status, message }) => {
      const res = await call();
      expect(res.status).toBe(status);
        expect(res.body).toMatchObject({ statusCode: status, message: expect.stringMatching(message) });
      },
    );

    it("join/leave with another user's connection → 403", async () => {
      const bobsTab = await TestClient.connect(t.wsUrl);
      const bob = await new HttpClient(t.baseUrl).login('bob');
      await bob.post('/bind', { client_id: bobsTab.clientId });
      for (const path of ['/join', '/leave']) {
        const res = await alice.post(path, { client_id: bobsTab.clientId, group: 'g' });
        expect(res).toMatchObject({ status: 403, body: { statusCode: 403, message: expect.stringMatching(/not bound to you/) } });
      }
      expect(await t.push.getGroupsByClientId(bobsTab.clientId)).toEqual([]);
      await t.disconnect([bobsTab]);
    });

    it('a forged login cookie is refused → 401', async () => {
      const forger = new HttpClient(t.baseUrl, 'push_demo_uid=s%3Aalice.forgedsignature');
      const res = await forger.post('/send', { all: true, message: 'x' });
      expect(res.status).toBe(401);
    });
  });
});

import { PushInvalidArgumentError } from 'nest-push-channel';
import { HttpClient, startApp, TestApp } from './support/test-app';
import { TestClient } from './support/test-client';

/** How a call ended: resolved (with what), rejected (with which error), or thrown synchronously. */
async function settle(call: () => Promise<unknown>): Promise<{ value?: unknown; error?: unknown; threw?: boolean }> {
  let promise: Promise<unknown>;
  try {
    promise = call();
  } catch (error) {
    return { error, threw: true };
  }
  return promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
}

/** An own property's value, read without going through the `__proto__` accessor. */
function own(object: unknown, key: string): unknown {
  return Object.getOwnPropertyDescriptor(object as object, key)?.value;
}

/**
 * Issue 7 #9, #11, #12 on the memory engine with real sockets: ill-formed uids and groups are refused (400),
 * updateSession keeps every JSON key (and never touches a prototype), and a bad argument is a rejected promise
 * rather than a synchronous throw.
 */
describe('bad strings, session keys and rejections (#9, #11, #12)', () => {
  let t: TestApp;
  let c: TestClient;
  let replacement: TestClient;

  beforeAll(async () => {
    t = await startApp();
    c = await TestClient.connect(t.wsUrl);
    // A member of the group and uid that a lone surrogate turns into once encoded as UTF-8 (U+FFFD).
    replacement = await TestClient.connect(t.wsUrl);
    await t.push.joinGroup(replacement.clientId, '\ufffd');
    await t.push.bindUid(replacement.clientId, '\ufffd');
  });
  afterAll(async () => {
    await t.disconnect([c, replacement].filter((x) => x.socket.readyState === x.socket.OPEN));
    await t.close();
  });
  beforeEach(async () => {
    // A fresh connection per test: on the old code a test may bind it to, or close it through, an ill-formed name.
    if (c.socket.readyState !== c.socket.OPEN) c = await TestClient.connect(t.wsUrl);
  });
  afterEach(async () => {
    // Nothing addressed to an ill-formed name ever reached the U+FFFD member, and it is still served.
    const n = Math.random();
    expect(await t.push.sendToGroup('\ufffd', { still: n })).toBe(1);
    const leaked: unknown[] = [];
    for (let frame = await replacement.next(); JSON.stringify(frame) !== JSON.stringify({ still: n }); ) {
      leaked.push(frame);
      frame = await replacement.next();
    }
    expect(leaked).toEqual([]);
    // And the test connection carries no binding into the next test.
    if (c.socket.readyState === c.socket.OPEN) {
      await t.push.unbindUid(c.clientId).catch(() => undefined);
      for (const g of await t.push.getGroupsByClientId(c.clientId)) await t.push.leaveGroup(c.clientId, g);
    }
  });

  describe('a uid or group with a lone surrogate is refused with 400 (#9)', () => {
    const LONE = '\ud800';
    it.each([
      ['joinGroup', () => t.push.joinGroup(c.clientId, LONE)],
      ['leaveGroup', () => t.push.leaveGroup(c.clientId, LONE)],
      ['bindUid', () => t.push.bindUid(c.clientId, LONE)],
      ['sendToGroup', () => t.push.sendToGroup(LONE, { to: 'lone group' })],
      ['sendToGroup (list)', () => t.push.sendToGroup(['other', LONE], { to: 'lone group list' })],
      ['sendToUid', () => t.push.sendToUid(LONE, { to: 'lone uid' })],
      ['sendToUid (list)', () => t.push.sendToUid(['other', LONE], { to: 'lone uid list' })],
      ['ungroup', () => t.push.ungroup(LONE)],
      ['closeUid', () => t.push.closeUid(LONE)],
      ['getClientIdCountByGroup', () => t.push.getClientIdCountByGroup(LONE)],
      ['getClientIdByUid', () => t.push.getClientIdByUid(LONE)],
      ['isUidOnline', () => t.push.isUidOnline(LONE)],
    ])('%s', async (_name, call) => {
      const result = await settle(call as () => Promise<unknown>);
      expect({ threw: result.threw ?? false, resolved: 'value' in result }).toEqual({ threw: false, resolved: false });
      expect(result.error).toBeInstanceOf(PushInvalidArgumentError);
      expect((result.error as PushInvalidArgumentError).getStatus()).toBe(400);
      // The connection was not bound or joined under any name.
      expect(await t.push.getGroupsByClientId(c.clientId)).toEqual([]);
      expect(await t.push.getUidByClientId(c.clientId)).toBeNull();
      expect(replacement.pending()).toEqual([]);
    });

    it('the example app answers 400 for such a field in /join, /bind and /send', async () => {
      const http = await new HttpClient(t.baseUrl).login('surrogates');
      const mine = await TestClient.connect(t.wsUrl);
      try {
        expect((await http.post('/bind', { client_id: mine.clientId })).status).toBe(200);
        // JSON.stringify writes the lone surrogate as the escape \ud800; the server's JSON.parse restores it.
        expect((await http.post('/join', { client_id: mine.clientId, group: LONE })).status).toBe(400);
        expect((await http.post('/bind', { client_id: mine.clientId, group: LONE })).status).toBe(400);
        expect((await http.post('/send', { group: LONE, message: 'x' })).status).toBe(400);
        expect((await http.post('/send', { uid: LONE, message: 'x' })).status).toBe(400);
        expect(await t.push.getGroupsByClientId(mine.clientId)).toEqual([]);
      } finally {
        await t.disconnect([mine]);
      }
    });
  });

  describe('updateSession keeps every JSON key (#11)', () => {
    it('setSession and updateSession both keep "constructor" and "prototype"', async () => {
      await t.push.setSession(c.clientId, JSON.parse('{"constructor":{"a":1},"prototype":1}'));
      const stored = await t.push.getSession(c.clientId);
      expect(Object.keys(stored!).sort()).toEqual(['constructor', 'prototype']);

      await t.push.setSession(c.clientId, { x: 1 });
      const merged = await t.push.updateSession(c.clientId, JSON.parse('{"constructor":"c","prototype":{"p":1}}'));
      expect(Object.keys(merged).sort()).toEqual(['constructor', 'prototype', 'x']);
      expect({ constructor: own(merged, 'constructor'), prototype: own(merged, 'prototype') }).toEqual({
        constructor: 'c',
        prototype: { p: 1 },
      });
      const session = await t.push.getSession(c.clientId);
      expect(Object.keys(session!).sort()).toEqual(['constructor', 'prototype', 'x']);
      // And they merge like any key.
      await t.push.updateSession(c.clientId, JSON.parse('{"constructor":null,"prototype":{"q":2}}'));
      const again = await t.push.getSession(c.clientId);
      expect(Object.keys(again!).sort()).toEqual(['prototype', 'x']);
      expect(own(again, 'prototype')).toEqual({ p: 1, q: 2 });
    });

    it('"__proto__" in a patch becomes an own key (or is refused with 400), never a prototype', async () => {
      await t.push.setSession(c.clientId, { k: 1 });
      const result = await settle(() =>
        t.push.updateSession(c.clientId, JSON.parse('{"__proto__":{"polluted":true},"ok":1}')),
      );
      expect(result.threw ?? false).toBe(false);
      const session = await t.push.getSession(c.clientId);
      if ('error' in result) {
        expect(result.error).toBeInstanceOf(PushInvalidArgumentError);
        expect(session).toEqual({ k: 1 });
      } else {
        // Not dropped silently: kept as the own key it is in the JSON.
        for (const merged of [result.value, session]) {
          expect(Object.keys(merged as object).sort()).toEqual(['__proto__', 'k', 'ok']);
          expect(own(merged, '__proto__')).toEqual({ polluted: true });
          expect((merged as Record<string, unknown>).polluted).toBeUndefined();
        }
      }
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(Object.getPrototypeOf(session)).not.toHaveProperty('polluted');
    });
  });

  describe('a bad argument is a rejected promise, never a synchronous throw (#12)', () => {
    it('push.sendToUid(bad, m).catch(log) catches it', async () => {
      const logged: unknown[] = [];
      const log = (error: unknown) => void logged.push(error);
      const caller = () => {
        // The pattern from the issue: fire and forget, errors to a logger.
        void t.push.sendToUid('', { m: 1 }).catch(log);
        void t.push.sendToClient('not-a-client-id', { m: 1 }).catch(log);
        void t.push.joinGroup(c.clientId, '').catch(log);
        void t.push.setSession(c.clientId, [] as never).catch(log);
      };
      expect(caller).not.toThrow();
      await new Promise((resolve) => setImmediate(resolve));
      expect(logged).toHaveLength(4);
      for (const error of logged) expect(error).toBeInstanceOf(PushInvalidArgumentError);
    });
  });
});

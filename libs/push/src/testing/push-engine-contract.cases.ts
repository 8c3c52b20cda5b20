import assert from 'node:assert/strict';
import { filter, firstValueFrom, merge, take, throwError, timeout } from 'rxjs';
import { PushClientNotFoundError } from '../errors/push.errors';
import type { PushCloseEvent } from '../interfaces/push-event.interface';
import type { PushEvents } from '../push-events.service';
import type { PushService } from '../push.service';
import type { ContractClient } from './contract-client';
import type { ContractTestFramework } from './contract-test-framework';

/**
 * Where the cases run: a service to call (on a gateway node or a push-only node), a way to open client sockets
 * (on one node or spread over several), and the event streams of the nodes that hold them.
 */
export interface ContractEnv {
  /** The PushService every call goes through. */
  push: PushService;
  /** Opens a client on some gateway node and waits for its init frame. */
  connect(): Promise<ContractClient>;
  /** The event streams of the nodes that hold sockets (one per gateway node). */
  events: PushEvents[];
}

/** How long a case waits for one close event before it fails. */
const EVENT_TIMEOUT_MS = 5_000;

/**
 * Every row of shared/design/api.md, exercised through real sockets, registered with `t`. `env` is read when the
 * cases run (the nodes start in a hook). Each case closes the clients it opened, and must leave the engine empty:
 * the last cases check that no trace of a closed connection is left in any query.
 */
export function definePushContractCases(t: ContractTestFramework, env: () => ContractEnv): void {
  const { describe, it } = t;
  let push: PushService;
  let open: ContractClient[] = [];

  const connect = async (n: number): Promise<ContractClient[]> => {
    const clients = await Promise.all(Array.from({ length: n }, () => env().connect()));
    open.push(...clients);
    return clients;
  };
  /** The close event of `clientId` on whichever node holds it (subscribe before closing). */
  const closeEventOf = (clientId: string): Promise<PushCloseEvent> =>
    firstValueFrom(
      merge(...env().events.map((events) => events.close$)).pipe(
        filter((e) => e.clientId === clientId),
        take(1),
        timeout({ first: EVENT_TIMEOUT_MS, with: () => throwError(() => new Error(`no close event for ${clientId}`)) }),
      ),
    );
  const disconnect = async (...clients: ContractClient[]): Promise<PushCloseEvent[]> => {
    const events = Promise.all(clients.map((c) => closeEventOf(c.clientId)));
    await Promise.all(clients.map((c) => c.close()));
    open = open.filter((c) => !clients.includes(c));
    return events;
  };
  /** Proves `clients` got nothing more: a marker sent now must be the very next frame each reads. */
  const expectNothingMore = async (...clients: ContractClient[]) => {
    for (const client of clients) {
      assert.equal(await push.sendToClient(client.clientId, { marker: client.clientId }), 1, 'the marker is delivered');
      same(await client.next(), { marker: client.clientId }, `${client.clientId} got a frame too many`);
    }
  };
  /** Asserts that `actual` has (at least) the properties of `expected`, each the `same`. */
  const assertHas = (actual: object, expected: Record<string, unknown>) => {
    for (const [key, value] of Object.entries(expected)) {
      same((actual as Record<string, unknown>)[key], value, `property ${key}`);
    }
  };
  const sorted = (list: Iterable<string>) => [...list].sort();
  let seq = 0;
  const unique = (prefix: string) => `${prefix}-${++seq}-${Math.random().toString(36).slice(2, 8)}`;

  t.beforeAll(async () => {
    push = env().push;
  });
  t.afterEach(async () => {
    await disconnect(...open.filter((c) => c.open));
    open = [];
  });

  describe('send', () => {
    it('sendToClient delivers to that connection only and counts it', async () => {
      const [a, b] = await connect(2);
      assert.equal(await push.sendToClient(a.clientId, { hello: 'a' }), 1);
      same(await a.next(), { hello: 'a' });
      await expectNothingMore(b);
    });

    it('sendToClient to a well-formed id that is not connected delivers to nobody', async () => {
      const [a] = await connect(1);
      const ghost = a.clientId.slice(0, 16) + '0'.repeat(32);
      assert.equal(await push.sendToClient(ghost, 'x'), 0);
    });

    it('sends strings as text, Buffers as binary, other values as JSON', async () => {
      const [a] = await connect(1);
      assert.equal(await push.sendToClient(a.clientId, 'plain text'), 1);
      assert.equal(await push.sendToClient(a.clientId, Buffer.from([0, 1, 2, 255])), 1);
      assert.equal(await push.sendToClient(a.clientId, [1, 'two', { three: 3 }]), 1);
      assert.equal(await a.next(), 'plain text');
      const binary = await a.next();
      assert.ok(Buffer.isBuffer(binary), 'a Buffer arrives as a binary frame');
      same([...binary], [0, 1, 2, 255]);
      same(await a.next(), [1, 'two', { three: 3 }]);
    });

    it('sendToUid reaches every connection of one uid, or of several', async () => {
      const [a1, a2, b, c] = await connect(4);
      const [ua, ub] = [unique('u'), unique('u')];
      await push.bindUid(a1.clientId, ua);
      await push.bindUid(a2.clientId, ua);
      await push.bindUid(b.clientId, ub);
      assert.equal(await push.sendToUid(ua, 'to a'), 2);
      assert.equal(await a1.next(), 'to a');
      assert.equal(await a2.next(), 'to a');
      assert.equal(await push.sendToUid([ua, ub, ua], 'to both'), 3);
      for (const x of [a1, a2, b]) assert.equal(await x.next(), 'to both');
      assert.equal(await push.sendToUid(unique('nobody'), 'x'), 0);
      assert.equal(await push.sendToUid([], 'x'), 0);
      await expectNothingMore(b, c);
    });

    it('sendToGroup reaches members once, across several groups, minus exclude', async () => {
      const [a, b, c, outsider] = await connect(4);
      const [g1, g2] = [unique('g'), unique('g')];
      await push.joinGroup(a.clientId, g1);
      await push.joinGroup(b.clientId, g1);
      await push.joinGroup(b.clientId, g2);
      await push.joinGroup(c.clientId, g2);
      assert.equal(await push.sendToGroup(g1, 'g1'), 2);
      assert.equal(await push.sendToGroup([g1, g2], 'both'), 3);
      assert.equal(await push.sendToGroup(g1, 'not a', { exclude: a.clientId }), 1);
      assert.equal(await push.sendToGroup([g1, g2], 'only c', { exclude: [a.clientId, b.clientId] }), 1);
      same([await a.next(), await a.next()], ['g1', 'both']);
      same([await b.next(), await b.next(), await b.next()], ['g1', 'both', 'not a']);
      same([await c.next(), await c.next()], ['both', 'only c']);
      await expectNothingMore(a, b, c, outsider);
    });

    it('sendToAll reaches everyone, or only the listed clientIds; an empty list reaches nobody', async () => {
      const [a, b, c] = await connect(3);
      assert.equal(await push.sendToAll('everyone'), 3);
      for (const x of [a, b, c]) assert.equal(await x.next(), 'everyone');
      assert.equal(await push.sendToAll('some', { clientIds: [a.clientId, c.clientId, a.clientId] }), 2);
      assert.equal(await a.next(), 'some');
      assert.equal(await c.next(), 'some');
      assert.equal(await push.sendToAll('nobody', { clientIds: [] }), 0);
      assert.equal(await push.sendToAll('not b', { exclude: [b.clientId] }), 2);
      assert.equal(await a.next(), 'not b');
      assert.equal(await c.next(), 'not b');
      await expectNothingMore(a, b, c);
    });
  });

  describe('bind', () => {
    it('bindUid / unbindUid', async () => {
      const [a] = await connect(1);
      const uid = unique('u');
      await push.bindUid(a.clientId, uid);
      assert.equal(await push.getUidByClientId(a.clientId), uid);
      await push.unbindUid(a.clientId);
      assert.equal(await push.getUidByClientId(a.clientId), null);
      assert.equal(await push.isUidOnline(uid), false);
    });

    it('binding an unknown or closed client_id is an error the caller sees', async () => {
      const [a] = await connect(1);
      const id = a.clientId;
      await disconnect(a);
      await assert.rejects(push.bindUid(id, 'u'), PushClientNotFoundError);
      await assert.rejects(push.joinGroup(id, 'g'), PushClientNotFoundError);
      await assert.rejects(push.unbindUid(id), PushClientNotFoundError);
      await assert.rejects(push.leaveGroup(id, 'g'), PushClientNotFoundError);
      await assert.rejects(push.setSession(id, {}), PushClientNotFoundError);
      await assert.rejects(push.updateSession(id, {}), PushClientNotFoundError);
    });

    it('joinGroup / leaveGroup / ungroup', async () => {
      const [a, b] = await connect(2);
      const g = unique('g');
      await push.joinGroup(a.clientId, g);
      await push.joinGroup(a.clientId, g); // idempotent
      await push.joinGroup(b.clientId, g);
      assert.equal(await push.getClientIdCountByGroup(g), 2);
      await push.leaveGroup(a.clientId, g);
      same(await push.getClientIdListByGroup(g), [b.clientId]);
      same(await push.getGroupsByClientId(a.clientId), []);
      await push.joinGroup(a.clientId, g);
      assert.equal(await push.ungroup(g), 2);
      assert.equal(await push.getClientIdCountByGroup(g), 0);
      assert.ok(!(await push.getAllGroupIdList()).includes(g), 'an ungrouped group is not listed');
      assert.equal(await push.sendToGroup(g, 'x'), 0);
      // Members stay connected.
      assert.equal(await push.isOnline(a.clientId), true);
      assert.equal(await push.isOnline(b.clientId), true);
    });
  });

  describe('control', () => {
    it('closeClient flushes a final message, then closes with 1000', async () => {
      const [a] = await connect(1);
      const closed = closeEventOf(a.clientId);
      assert.equal(await push.sendToClient(a.clientId, 'before'), 1);
      assert.equal(await push.closeClient(a.clientId, { bye: true }), true);
      assert.equal(await a.next(), 'before');
      same(await a.next(), { bye: true });
      assert.equal((await a.closed).code, 1000);
      assertHas(await closed, { reason: 'closed-by-server', code: 1000 });
      assert.equal(await push.isOnline(a.clientId), false);
      assert.equal(await push.closeClient(a.clientId), false);
    });

    it('destroyClient cuts the connection at once', async () => {
      const [a] = await connect(1);
      const closed = closeEventOf(a.clientId);
      assert.equal(await push.destroyClient(a.clientId), true);
      assert.equal((await a.closed).code, 1006);
      assert.equal((await closed).reason, 'destroyed');
      assert.equal(await push.isOnline(a.clientId), false);
    });

    it('closeUid closes every connection of a uid', async () => {
      const [a1, a2, b] = await connect(3);
      const uid = unique('u');
      await push.bindUid(a1.clientId, uid);
      await push.bindUid(a2.clientId, uid);
      const closed = Promise.all([closeEventOf(a1.clientId), closeEventOf(a2.clientId)]);
      assert.equal(await push.closeUid(uid), 2);
      await closed;
      assert.equal((await a1.closed).code, 1000);
      assert.equal((await a2.closed).code, 1000);
      assert.equal(await push.isUidOnline(uid), false);
      assert.equal(await push.isOnline(b.clientId), true);
    });
  });

  describe('session', () => {
    it('setSession replaces, updateSession deep-merges, getSession reads, null when offline', async () => {
      const [a] = await connect(1);
      same(await push.getSession(a.clientId), {});
      await push.setSession(a.clientId, { name: 'A', prefs: { theme: 'dark', lang: 'en' }, tags: [1] });
      // A null deletes the key; arrays are replaced, not merged.
      const merged = await push.updateSession(a.clientId, { prefs: { lang: 'fr' }, tags: [2], name: null } as never);
      same(merged, { prefs: { theme: 'dark', lang: 'fr' }, tags: [2] });
      same(await push.getSession(a.clientId), merged);
      await push.setSession(a.clientId, { only: 'this' });
      same(await push.getSession(a.clientId), { only: 'this' });
      await disconnect(a);
      assert.equal(await push.getSession(a.clientId), null);
    });

    it('the close event carries the uid, groups and session the connection had', async () => {
      const [a] = await connect(1);
      const uid = unique('u');
      const [g1, g2] = [unique('g'), unique('g')];
      await push.bindUid(a.clientId, uid);
      await push.joinGroup(a.clientId, g1);
      await push.joinGroup(a.clientId, g2);
      await push.setSession(a.clientId, { cart: 3 });
      const [event] = await disconnect(a);
      assertHas(event, { type: 'close', clientId: a.clientId, uid, session: { cart: 3 }, reason: 'peer' });
      same(sorted(event.groups), sorted([g1, g2]));
    });
  });

  describe('online and lookups', () => {
    it('isOnline, isUidOnline, isUidsOnline', async () => {
      const [a] = await connect(1);
      const uid = unique('u');
      const other = unique('u');
      assert.equal(await push.isOnline(a.clientId), true);
      assert.equal(await push.isUidOnline(uid), false);
      await push.bindUid(a.clientId, uid);
      assert.equal(await push.isUidOnline(uid), true);
      same(await push.isUidsOnline([uid, other]), { [uid]: true, [other]: false });
      await disconnect(a);
      assert.equal(await push.isOnline(a.clientId), false);
      assert.equal(await push.isUidOnline(uid), false);
    });

    it('getClientIdByUid, batchGetClientIdByUid, getUidByClientId, getGroupsByClientId', async () => {
      const [a1, a2, b] = await connect(3);
      const [ua, ub, none] = [unique('u'), unique('u'), unique('u')];
      const g = unique('g');
      await push.bindUid(a1.clientId, ua);
      await push.bindUid(a2.clientId, ua);
      await push.bindUid(b.clientId, ub);
      await push.joinGroup(b.clientId, g);
      same(sorted(await push.getClientIdByUid(ua)), sorted([a1.clientId, a2.clientId]));
      const batch = await push.batchGetClientIdByUid([ua, ub, none]);
      same(sorted(batch[ua]), sorted([a1.clientId, a2.clientId]));
      same(batch[ub], [b.clientId]);
      same(batch[none], []);
      assert.equal(await push.getUidByClientId(b.clientId), ub);
      same(await push.getGroupsByClientId(b.clientId), [g]);
      same(await push.getGroupsByClientId(a1.clientId), []);
    });
  });

  describe('counts and lists', () => {
    it('answers every count and list of api.md for a known population', async () => {
      // a1,a2 → uid A; b → uid B; c unbound. g1 = {a1, b}; g2 = {a2, b, c}.
      const [a1, a2, b, c] = await connect(4);
      const [A, B] = [unique('A'), unique('B')];
      const [g1, g2, empty] = [unique('g1'), unique('g2'), unique('empty')];
      await push.bindUid(a1.clientId, A);
      await push.bindUid(a2.clientId, A);
      await push.bindUid(b.clientId, B);
      for (const [client, group] of [
        [a1, g1],
        [b, g1],
        [a2, g2],
        [b, g2],
        [c, g2],
      ] as const) {
        await push.joinGroup(client.clientId, group);
      }
      await push.setSession(a1.clientId, { n: 1 });
      await push.setSession(b.clientId, { n: 2 });
      const all = sorted([a1, a2, b, c].map((x) => x.clientId));

      assert.equal(await push.getAllClientIdCount(), 4);
      same(sorted(await push.getAllClientIdList()), all);
      same(await push.getAllClientSessions(), {
        [a1.clientId]: { n: 1 },
        [a2.clientId]: {},
        [b.clientId]: { n: 2 },
        [c.clientId]: {},
      });
      same(await push.getAllClientSessions(g1), { [a1.clientId]: { n: 1 }, [b.clientId]: { n: 2 } });
      assert.equal(await push.getClientIdCountByGroup(g2), 3);
      same(await push.batchGetClientIdCountByGroup([g1, g2, empty]), { [g1]: 2, [g2]: 3, [empty]: 0 });
      same(sorted(await push.getClientIdListByGroup(g1)), sorted([a1.clientId, b.clientId]));
      same(sorted(await push.getClientIdListByGroup([g1, g2])), all);
      same(await push.getClientSessionsByGroup(g2), {
        [a2.clientId]: {},
        [b.clientId]: { n: 2 },
        [c.clientId]: {},
      });
      same(sorted(await push.getUidListByGroup(g2)), sorted([A, B]));
      assert.equal(await push.getUidCountByGroup(g1), 2);
      same(sorted(await push.getAllUidList()), sorted([A, B]));
      assert.equal(await push.getAllUidCount(), 2);
      same(sorted(await push.getAllGroupIdList()), sorted([g1, g2]));
      const groupUids = await push.getAllGroupUidList();
      same(sorted(Object.keys(groupUids)), sorted([g1, g2]));
      same(sorted(groupUids[g1]), sorted([A, B]));
      same(sorted(groupUids[g2]), sorted([A, B]));
      same(await push.getAllGroupUidCount(), { [g1]: 2, [g2]: 2 });
      const groupClients = await push.getAllGroupClientIdList();
      same(sorted(groupClients[g1]), sorted([a1.clientId, b.clientId]));
      same(sorted(groupClients[g2]), sorted([a2.clientId, b.clientId, c.clientId]));
      same(await push.getAllGroupClientIdCount(), { [g1]: 2, [g2]: 3 });
    });

    it('a closed connection leaves no trace in any query', async () => {
      const [a, b] = await connect(2);
      const uid = unique('u');
      const g = unique('g');
      await push.bindUid(a.clientId, uid);
      await push.joinGroup(a.clientId, g);
      await push.setSession(a.clientId, { x: 1 });
      await disconnect(a);
      same(await push.getAllClientIdList(), [b.clientId]);
      assert.equal(await push.getAllClientIdCount(), 1);
      same(await push.getAllUidList(), []);
      assert.equal(await push.getAllUidCount(), 0);
      same(await push.getAllGroupIdList(), []);
      same(await push.getClientIdByUid(uid), []);
      same(await push.getClientIdListByGroup(g), []);
      same(await push.getAllGroupClientIdCount(), {});
      same(await push.getAllClientSessions(), { [b.clientId]: {} });
      assert.equal(await push.getUidByClientId(a.clientId), null);
      same(await push.getGroupsByClientId(a.clientId), []);
      assert.equal(await push.sendToUid(uid, 'x'), 0);
      assert.equal(await push.sendToGroup(g, 'x'), 0);
    });
  });
}

/**
 * Asserts deep, strict equality of content. Prototypes of plain objects are not compared: an engine may answer
 * sessions and records as null-prototype objects (so that `__proto__` is an ordinary key), or as objects of another
 * realm (`structuredClone` in Jest, whose test files run in a vm context of their own, makes objects of Node's main
 * realm), where the expected values are literals of this one. Both sides are compared as plain values.
 */
function same(actual: unknown, expected: unknown, message?: string): void {
  assert.deepStrictEqual(plain(actual), plain(expected), message);
}

/**
 * A copy of `value` in which every plain object (of any realm) or null-prototype object is a plain object of this
 * realm, arrays included; other values as they are.
 */
function plain(value: unknown): unknown {
  if (Array.isArray(value)) return Array.from(value, plain);
  if (value === null || typeof value !== 'object') return value;
  const prototype = Object.getPrototypeOf(value) as object | null;
  // Some realm's Object.prototype is the one object whose own prototype is null.
  if (prototype !== null && Object.getPrototypeOf(prototype) !== null) return value;
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    // defineProperty, not assignment: a `__proto__` key stays an own key.
    Object.defineProperty(copy, key, { value: plain(item), enumerable: true, writable: true, configurable: true });
  }
  return copy;
}

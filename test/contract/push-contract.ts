import type { PushCloseEvent, PushEvents, PushService } from 'nest-push-channel';
import { PushClientNotFoundError } from 'nest-push-channel';
import { TestClient } from '../support/test-client';
import { waitFor } from '../support/wait';

/**
 * Where the contract runs: a service to call (on a gateway node or a push-only node), a way to open client
 * sockets (on one node or spread over several), and the close events of the nodes that hold them.
 */
export interface ContractEnv {
  /** The PushService every call goes through. */
  push: PushService;
  /** Opens a client on some gateway node and waits for its init frame. */
  connect(): Promise<TestClient>;
  /** The event streams of the nodes that hold sockets (one per gateway node). */
  events: PushEvents[];
  /** Stops everything. */
  close(): Promise<void>;
}

/**
 * Every row of shared/design/api.md, exercised through real sockets. One suite, run unchanged against each
 * engine: a file per engine calls this with its own setup.
 */
export function describePushContract(name: string, setup: () => Promise<ContractEnv>): void {
  describe(`PushService contract (${name})`, () => {
    let env: ContractEnv;
    let push: PushService;
    let open: TestClient[] = [];

    const connect = async (n = 1): Promise<TestClient[]> => {
      const clients = await Promise.all(Array.from({ length: n }, () => env.connect()));
      open.push(...clients);
      return clients;
    };
    const closeEventOf = (clientId: string): Promise<PushCloseEvent> =>
      Promise.race(env.events.map((events) => waitFor(events.close$, (e) => e.clientId === clientId)));
    const disconnect = async (...clients: TestClient[]): Promise<PushCloseEvent[]> => {
      const events = Promise.all(clients.map((c) => closeEventOf(c.clientId)));
      await Promise.all(clients.map((c) => c.close()));
      open = open.filter((c) => !clients.includes(c));
      return events;
    };
    /** Proves `client` got nothing more: a marker sent now must be the very next frame it reads. */
    const expectNothingMore = async (...clients: TestClient[]) => {
      for (const client of clients) {
        await push.sendToClient(client.clientId, { marker: client.clientId });
        expect(await client.next()).toEqual({ marker: client.clientId });
      }
    };
    let seq = 0;
    const unique = (prefix: string) => `${prefix}-${++seq}-${Math.random().toString(36).slice(2, 8)}`;

    beforeAll(async () => {
      env = await setup();
      push = env.push;
    });
    afterEach(async () => {
      await disconnect(...open.filter((c) => c.socket.readyState === c.socket.OPEN));
      open = [];
    });
    afterAll(async () => {
      await env.close();
    });

    describe('send', () => {
      it('sendToClient delivers to that connection only and counts it', async () => {
        const [a, b] = await connect(2);
        expect(await push.sendToClient(a.clientId, { hello: 'a' })).toBe(1);
        expect(await a.next()).toEqual({ hello: 'a' });
        await expectNothingMore(b);
      });

      it('sendToClient to a well-formed id that is not connected delivers to nobody', async () => {
        const [a] = await connect(1);
        const ghost = a.clientId.slice(0, 16) + '0'.repeat(32);
        expect(await push.sendToClient(ghost, 'x')).toBe(0);
      });

      it('sends strings as text, Buffers as binary, other values as JSON', async () => {
        const [a] = await connect(1);
        await push.sendToClient(a.clientId, 'plain text');
        await push.sendToClient(a.clientId, Buffer.from([0, 1, 2, 255]));
        await push.sendToClient(a.clientId, [1, 'two', { three: 3 }]);
        expect(await a.next()).toBe('plain text');
        const binary = await a.next();
        expect(Buffer.isBuffer(binary) && [...binary]).toEqual([0, 1, 2, 255]);
        expect(await a.next()).toEqual([1, 'two', { three: 3 }]);
      });

      it('sendToUid reaches every connection of one uid, or of several', async () => {
        const [a1, a2, b, c] = await connect(4);
        const [ua, ub] = [unique('u'), unique('u')];
        await push.bindUid(a1.clientId, ua);
        await push.bindUid(a2.clientId, ua);
        await push.bindUid(b.clientId, ub);
        expect(await push.sendToUid(ua, 'to a')).toBe(2);
        expect(await a1.next()).toBe('to a');
        expect(await a2.next()).toBe('to a');
        expect(await push.sendToUid([ua, ub, ua], 'to both')).toBe(3);
        for (const x of [a1, a2, b]) expect(await x.next()).toBe('to both');
        expect(await push.sendToUid(unique('nobody'), 'x')).toBe(0);
        expect(await push.sendToUid([], 'x')).toBe(0);
        await expectNothingMore(b, c);
      });

      it('sendToGroup reaches members once, across several groups, minus exclude', async () => {
        const [a, b, c, outsider] = await connect(4);
        const [g1, g2] = [unique('g'), unique('g')];
        await push.joinGroup(a.clientId, g1);
        await push.joinGroup(b.clientId, g1);
        await push.joinGroup(b.clientId, g2);
        await push.joinGroup(c.clientId, g2);
        expect(await push.sendToGroup(g1, 'g1')).toBe(2);
        expect(await push.sendToGroup([g1, g2], 'both')).toBe(3);
        expect(await push.sendToGroup(g1, 'not a', { exclude: a.clientId })).toBe(1);
        expect(await push.sendToGroup([g1, g2], 'only c', { exclude: [a.clientId, b.clientId] })).toBe(1);
        expect([await a.next(), await a.next()]).toEqual(['g1', 'both']);
        expect([await b.next(), await b.next(), await b.next()]).toEqual(['g1', 'both', 'not a']);
        expect([await c.next(), await c.next()]).toEqual(['both', 'only c']);
        await expectNothingMore(a, b, c, outsider);
      });

      it('sendToAll reaches everyone, or only the listed clientIds; an empty list reaches nobody', async () => {
        const [a, b, c] = await connect(3);
        expect(await push.sendToAll('everyone')).toBe(3);
        for (const x of [a, b, c]) expect(await x.next()).toBe('everyone');
        expect(await push.sendToAll('some', { clientIds: [a.clientId, c.clientId, a.clientId] })).toBe(2);
        expect(await a.next()).toBe('some');
        expect(await c.next()).toBe('some');
        expect(await push.sendToAll('nobody', { clientIds: [] })).toBe(0);
        expect(await push.sendToAll('not b', { exclude: [b.clientId] })).toBe(2);
        expect(await a.next()).toBe('not b');
        expect(await c.next()).toBe('not b');
        await expectNothingMore(a, b, c);
      });
    });

    describe('bind', () => {
      it('bindUid / unbindUid', async () => {
        const [a] = await connect(1);
        const uid = unique('u');
        await push.bindUid(a.clientId, uid);
        expect(await push.getUidByClientId(a.clientId)).toBe(uid);
        await push.unbindUid(a.clientId);
        expect(await push.getUidByClientId(a.clientId)).toBeNull();
        expect(await push.isUidOnline(uid)).toBe(false);
      });

      it('binding an unknown or closed client_id is an error the caller sees', async () => {
        const [a] = await connect(1);
        const id = a.clientId;
        await disconnect(a);
        await expect(push.bindUid(id, 'u')).rejects.toBeInstanceOf(PushClientNotFoundError);
        await expect(push.joinGroup(id, 'g')).rejects.toBeInstanceOf(PushClientNotFoundError);
        await expect(push.unbindUid(id)).rejects.toBeInstanceOf(PushClientNotFoundError);
        await expect(push.leaveGroup(id, 'g')).rejects.toBeInstanceOf(PushClientNotFoundError);
        await expect(push.setSession(id, {})).rejects.toBeInstanceOf(PushClientNotFoundError);
        await expect(push.updateSession(id, {})).rejects.toBeInstanceOf(PushClientNotFoundError);
      });

      it('joinGroup / leaveGroup / ungroup', async () => {
        const [a, b] = await connect(2);
        const g = unique('g');
        await push.joinGroup(a.clientId, g);
        await push.joinGroup(a.clientId, g); // idempotent
        await push.joinGroup(b.clientId, g);
        expect(await push.getClientIdCountByGroup(g)).toBe(2);
        await push.leaveGroup(a.clientId, g);
        expect(await push.getClientIdListByGroup(g)).toEqual([b.clientId]);
        expect(await push.getGroupsByClientId(a.clientId)).toEqual([]);
        await push.joinGroup(a.clientId, g);
        expect(await push.ungroup(g)).toBe(2);
        expect(await push.getClientIdCountByGroup(g)).toBe(0);
        expect(await push.getAllGroupIdList()).not.toContain(g);
        expect(await push.sendToGroup(g, 'x')).toBe(0);
        // Members stay connected.
        expect(await push.isOnline(a.clientId)).toBe(true);
        expect(await push.isOnline(b.clientId)).toBe(true);
      });
    });

    describe('control', () => {
      it('closeClient flushes a final message, then closes with 1000', async () => {
        const [a] = await connect(1);
        const closed = closeEventOf(a.clientId);
        await push.sendToClient(a.clientId, 'before');
        expect(await push.closeClient(a.clientId, { bye: true })).toBe(true);
        expect(await a.next()).toBe('before');
        expect(await a.next()).toEqual({ bye: true });
        expect(await a.closed).toMatchObject({ code: 1000 });
        expect(await closed).toMatchObject({ reason: 'closed-by-server', code: 1000 });
        expect(await push.isOnline(a.clientId)).toBe(false);
        expect(await push.closeClient(a.clientId)).toBe(false);
      });

      it('destroyClient cuts the connection at once', async () => {
        const [a] = await connect(1);
        const closed = closeEventOf(a.clientId);
        expect(await push.destroyClient(a.clientId)).toBe(true);
        expect((await a.closed).code).toBe(1006);
        expect((await closed).reason).toBe('destroyed');
        expect(await push.isOnline(a.clientId)).toBe(false);
      });

      it('closeUid closes every connection of a uid', async () => {
        const [a1, a2, b] = await connect(3);
        const uid = unique('u');
        await push.bindUid(a1.clientId, uid);
        await push.bindUid(a2.clientId, uid);
        const closed = Promise.all([closeEventOf(a1.clientId), closeEventOf(a2.clientId)]);
        expect(await push.closeUid(uid)).toBe(2);
        await closed;
        expect((await a1.closed).code).toBe(1000);
        expect((await a2.closed).code).toBe(1000);
        expect(await push.isUidOnline(uid)).toBe(false);
        expect(await push.isOnline(b.clientId)).toBe(true);
      });
    });

    describe('session', () => {
      it('setSession replaces, updateSession deep-merges, getSession reads, null when offline', async () => {
        const [a] = await connect(1);
        expect(await push.getSession(a.clientId)).toEqual({});
        await push.setSession(a.clientId, { name: 'A', prefs: { theme: 'dark', lang: 'en' }, tags: [1] });
        const merged = await push.updateSession(a.clientId, { prefs: { lang: 'fr' }, tags: [2], name: null } as never);
        expect(merged).toEqual({ prefs: { theme: 'dark', lang: 'fr' }, tags: [2] });
        expect(await push.getSession(a.clientId)).toEqual(merged);
        await push.setSession(a.clientId, { only: 'this' });
        expect(await push.getSession(a.clientId)).toEqual({ only: 'this' });
        await disconnect(a);
        expect(await push.getSession(a.clientId)).toBeNull();
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
        expect(event).toMatchObject({ type: 'close', clientId: a.clientId, uid, session: { cart: 3 }, reason: 'peer' });
        expect([...event.groups].sort()).toEqual([g1, g2].sort());
      });
    });

    describe('online and lookups', () => {
      it('isOnline, isUidOnline, isUidsOnline', async () => {
        const [a] = await connect(1);
        const uid = unique('u');
        const other = unique('u');
        expect(await push.isOnline(a.clientId)).toBe(true);
        expect(await push.isUidOnline(uid)).toBe(false);
        await push.bindUid(a.clientId, uid);
        expect(await push.isUidOnline(uid)).toBe(true);
        expect(await push.isUidsOnline([uid, other])).toEqual({ [uid]: true, [other]: false });
        await disconnect(a);
        expect(await push.isOnline(a.clientId)).toBe(false);
        expect(await push.isUidOnline(uid)).toBe(false);
      });

      it('getClientIdByUid, batchGetClientIdByUid, getUidByClientId, getGroupsByClientId', async () => {
        const [a1, a2, b] = await connect(3);
        const [ua, ub, none] = [unique('u'), unique('u'), unique('u')];
        await push.bindUid(a1.clientId, ua);
        await push.bindUid(a2.clientId, ua);
        await push.bindUid(b.clientId, ub);
        await push.joinGroup(b.clientId, 'lookup-g');
        expect((await push.getClientIdByUid(ua)).sort()).toEqual([a1.clientId, a2.clientId].sort());
        const batch = await push.batchGetClientIdByUid([ua, ub, none]);
        expect(batch[ua].sort()).toEqual([a1.clientId, a2.clientId].sort());
        expect(batch[ub]).toEqual([b.clientId]);
        expect(batch[none]).toEqual([]);
        expect(await push.getUidByClientId(b.clientId)).toBe(ub);
        expect(await push.getGroupsByClientId(b.clientId)).toEqual(['lookup-g']);
        expect(await push.getGroupsByClientId(a1.clientId)).toEqual([]);
      });
    });

    describe('counts and lists', () => {
      it('answers every count and list of api.md for a known population', async () => {
        // a1,a2 → uid A; b → uid B; c unbound. g1 = {a1, b}; g2 = {a2, b, c}.
        const [a1, a2, b, c] = await connect(4);
        const [A, B] = [unique('A'), unique('B')];
        const [g1, g2] = [unique('g1'), unique('g2')];
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
        const all = [a1, a2, b, c].map((x) => x.clientId).sort();
        const sorted = (list: string[]) => [...list].sort();

        expect(await push.getAllClientIdCount()).toBe(4);
        expect(sorted(await push.getAllClientIdList())).toEqual(all);
        expect(await push.getAllClientSessions()).toEqual({
          [a1.clientId]: { n: 1 },
          [a2.clientId]: {},
          [b.clientId]: { n: 2 },
          [c.clientId]: {},
        });
        expect(await push.getAllClientSessions(g1)).toEqual({ [a1.clientId]: { n: 1 }, [b.clientId]: { n: 2 } });
        expect(await push.getClientIdCountByGroup(g2)).toBe(3);
        expect(await push.batchGetClientIdCountByGroup([g1, g2, 'empty-group'])).toEqual({
          [g1]: 2,
          [g2]: 3,
          'empty-group': 0,
        });
        expect(sorted(await push.getClientIdListByGroup(g1))).toEqual(sorted([a1.clientId, b.clientId]));
        expect(sorted(await push.getClientIdListByGroup([g1, g2]))).toEqual(all);
        expect(await push.getClientSessionsByGroup(g2)).toEqual({
          [a2.clientId]: {},
          [b.clientId]: { n: 2 },
          [c.clientId]: {},
        });
        expect(sorted(await push.getUidListByGroup(g2))).toEqual(sorted([A, B]));
        expect(await push.getUidCountByGroup(g1)).toBe(2);
        expect(sorted(await push.getAllUidList())).toEqual(sorted([A, B]));
        expect(await push.getAllUidCount()).toBe(2);
        expect(sorted(await push.getAllGroupIdList())).toEqual(sorted([g1, g2]));
        const groupUids = await push.getAllGroupUidList();
        expect(Object.keys(groupUids).sort()).toEqual(sorted([g1, g2]));
        expect(sorted(groupUids[g1])).toEqual(sorted([A, B]));
        expect(sorted(groupUids[g2])).toEqual(sorted([A, B]));
        expect(await push.getAllGroupUidCount()).toEqual({ [g1]: 2, [g2]: 2 });
        const groupClients = await push.getAllGroupClientIdList();
        expect(sorted(groupClients[g1])).toEqual(sorted([a1.clientId, b.clientId]));
        expect(sorted(groupClients[g2])).toEqual(sorted([a2.clientId, b.clientId, c.clientId]));
        expect(await push.getAllGroupClientIdCount()).toEqual({ [g1]: 2, [g2]: 3 });
      });

      it('a closed connection leaves no trace in any query', async () => {
        const [a, b] = await connect(2);
        const uid = unique('u');
        const g = unique('g');
        await push.bindUid(a.clientId, uid);
        await push.joinGroup(a.clientId, g);
        await push.setSession(a.clientId, { x: 1 });
        await disconnect(a);
        expect(await push.getAllClientIdList()).toEqual([b.clientId]);
        expect(await push.getAllClientIdCount()).toBe(1);
        expect(await push.getAllUidList()).toEqual([]);
        expect(await push.getAllUidCount()).toBe(0);
        expect(await push.getAllGroupIdList()).toEqual([]);
        expect(await push.getClientIdByUid(uid)).toEqual([]);
        expect(await push.getClientIdListByGroup(g)).toEqual([]);
        expect(await push.getAllGroupClientIdCount()).toEqual({});
        expect(await push.getAllClientSessions()).toEqual({ [b.clientId]: {} });
        expect(await push.getUidByClientId(a.clientId)).toBeNull();
        expect(await push.getGroupsByClientId(a.clientId)).toEqual([]);
        expect(await push.sendToUid(uid, 'x')).toBe(0);
        expect(await push.sendToGroup(g, 'x')).toBe(0);
      });
    });
  });
}

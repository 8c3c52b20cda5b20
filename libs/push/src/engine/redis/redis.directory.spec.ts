import { createClientId, createNodeId } from '../../identity/client-id';
import { openRedisParts, uniquePrefix, type RedisParts } from '../../test-support/redis-parts';
import { RedisCluster } from '../../../../../test/support/redis-cluster';
import { RedisServer } from '../../../../../test/support/redis-server';
import type { RedisDirectory } from './redis.directory';
import type { RedisKeys } from './redis-keys';

/** A backend to run the cases on: one redis-server, or a three-master Redis Cluster. */
interface Backend {
  target(): { url?: string; cluster?: string[] };
  close(): Promise<void>;
}

const backends: [string, () => Promise<Backend>][] = [
  [
    'one redis-server',
    async () => {
      const server = await RedisServer.start();
      return { target: () => ({ url: server.url }), close: () => server.close() };
    },
  ],
  [
    'a 3-master Redis Cluster',
    async () => {
      const cluster = await RedisCluster.start({ masters: 3 });
      return { target: () => ({ cluster: cluster.startupNodes }), close: () => cluster.close() };
    },
  ],
];

const sorted = (values: string[]) => [...values].sort();

describe.each(backends)('RedisDirectory on %s', (_name, startBackend) => {
  let backend: Backend;
  let parts: RedisParts;
  let dir: RedisDirectory;
  let keys: RedisKeys;
  let node: string;

  beforeAll(async () => {
    backend = await startBackend();
  }, 60_000);
  afterAll(async () => {
    await backend?.close();
  });
  beforeEach(async () => {
    parts = await openRedisParts(backend.target(), uniquePrefix());
    dir = parts.directory;
    keys = parts.keys;
    node = createNodeId();
  });
  afterEach(async () => {
    await parts.close();
  });

  const cmd = () => parts.connections.cmd;

  it('runs on the backend it names', () => {
    expect(parts.connections.cluster).toBe(backend.target().cluster !== undefined);
  });

  it('register writes both views; registering again replaces the bindings', async () => {
    const [c1, c2] = [createClientId(node), createClientId(node)];
    await dir.register(node, [
      { clientId: c1, uid: 'u1', groups: ['g1', 'g}2'], session: '{"a":1}' },
      { clientId: c2, uid: null, groups: [], session: '{}' },
    ]);
    expect(await dir.getClients([c1, c2, createClientId(node)])).toEqual([
      { clientId: c1, uid: 'u1', groups: expect.arrayContaining(['g1', 'g}2']), session: { a: 1 } },
      { clientId: c2, uid: null, groups: [], session: {} },
      null,
    ]);
    expect(await dir.countClients()).toBe(2);
    expect(sorted(await dir.getAllClientIds())).toEqual(sorted([c1, c2]));
    expect(sorted(await dir.heldBy(node))).toEqual(sorted([c1, c2]));
    expect(await dir.getClientIdsByUids(['u1', 'nobody'])).toEqual([[c1], []]);
    expect(await dir.countClientsByGroups(['g1', 'g}2'])).toEqual([1, 1]);

    await dir.register(node, [{ clientId: c1, uid: 'u9', groups: ['g1'], session: '{"b":2}' }]);
    expect(await dir.getClients([c1])).toEqual([{ clientId: c1, uid: 'u9', groups: ['g1'], session: { b: 2 } }]);
    expect(await dir.countClientsByUids(['u1', 'u9'])).toEqual([0, 1]);
    expect(await dir.countClientsByGroups(['g1', 'g}2'])).toEqual([1, 0]);
    expect(await dir.countClients()).toBe(2);
  });

  it("unregister removes what the holder had and what the index had (a stale uid and group)", async () => {
    const c1 = createClientId(node);
    // The index says u2/g2 (a write the holder thinks failed went through), the holder says u1/g1.
    await dir.register(node, [{ clientId: c1, uid: 'u2', groups: ['g2'], session: '{}' }]);
    await cmd().sadd(keys.uidMembers('u1'), c1);
    await cmd().sadd(keys.groupMembers('g1'), c1);
    await dir.unregister(node, [{ clientId: c1, uid: 'u1', groups: ['g1'] }]);
    expect(await dir.getClients([c1])).toEqual([null]);
    expect(await dir.countClientsByUids(['u1', 'u2'])).toEqual([0, 0]);
    expect(await dir.countClientsByGroups(['g1', 'g2'])).toEqual([0, 0]);
    expect(await dir.countClients()).toBe(0);
    expect(await dir.heldBy(node)).toEqual([]);
  });

  it('setUid moves the membership; false for an unknown connection', async () => {
    const c1 = createClientId(node);
    await dir.register(node, [{ clientId: c1, uid: null, groups: [], session: '{}' }]);
    expect(await dir.setUid(c1, null, 'a')).toBe(true);
    expect(await dir.getClientIdsByUids(['a'])).toEqual([[c1]]);
    expect(await dir.setUid(c1, 'a', 'b{x}')).toBe(true);
    expect(await dir.getClientIdsByUids(['a', 'b{x}'])).toEqual([[], [c1]]);
    expect((await dir.getClients([c1]))[0]?.uid).toBe('b{x}');
    // The holder's idea of the previous uid is wrong: the index's own is removed too.
    expect(await dir.setUid(c1, 'zzz', 'c')).toBe(true);
    expect(await dir.getClientIdsByUids(['b{x}', 'c'])).toEqual([[], [c1]]);
    expect(await dir.setUid(c1, 'c', null)).toBe(true);
    expect(await dir.getClientIdsByUids(['c'])).toEqual([[]]);
    expect((await dir.getClients([c1]))[0]?.uid).toBeNull();
    expect(await dir.setUid(createClientId(node), null, 'a')).toBe(false);
    expect(await dir.getClientIdsByUids(['a'])).toEqual([[]]);
  });

  it('join and leave; leave clears the group set even for an unknown connection', async () => {
    const c1 = createClientId(node);
    await dir.register(node, [{ clientId: c1, uid: null, groups: [], session: '{}' }]);
    expect(await dir.join(c1, 'g')).toBe(true);
    expect(await dir.getClientIdsByGroups(['g'])).toEqual([[c1]]);
    expect((await dir.getClients([c1]))[0]?.groups).toEqual(['g']);
    expect(await dir.leave(c1, 'g')).toBe(true);
    expect(await dir.countClientsByGroups(['g'])).toEqual([0]);
    const ghost = createClientId(node);
    expect(await dir.join(ghost, 'g')).toBe(false);
    expect(await dir.countClientsByGroups(['g'])).toEqual([0]);
    await cmd().sadd(keys.groupMembers('g'), ghost);
    expect(await dir.leave(ghost, 'g')).toBe(false);
    expect(await dir.countClientsByGroups(['g'])).toEqual([0]);
  });

  it('setSession replaces the session; false for an unknown connection', async () => {
    const c1 = createClientId(node);
    await dir.register(node, [{ clientId: c1, uid: null, groups: [], session: '{}' }]);
    expect(await dir.setSession(c1, '{"x":"y"}')).toBe(true);
    expect((await dir.getClients([c1]))[0]?.session).toEqual({ x: 'y' });
    expect(await dir.setSession(createClientId(node), '{}')).toBe(false);
  });

  it('host and unhost are idempotent per node; the name is counted while any node hosts it', async () => {
    const other = createNodeId();
    await dir.host(node, 'uid', 'u', true);
    await dir.host(node, 'uid', 'u', true);
    expect(await dir.countUids()).toBe(1);
    expect(await cmd().hget(keys.uids, 'u')).toBe('1');
    await dir.host(other, 'uid', 'u', true);
    expect(await cmd().hget(keys.uids, 'u')).toBe('2');
    expect(await dir.getAllUids()).toEqual(['u']);
    await dir.host(node, 'uid', 'u', false);
    await dir.host(node, 'uid', 'u', false);
    expect(await dir.countUids()).toBe(1);
    await dir.host(other, 'uid', 'u', false);
    expect(await dir.countUids()).toBe(0);
    expect(await dir.getAllUids()).toEqual([]);
    await dir.host(node, 'group', 'g', true);
    expect(await dir.getAllGroups()).toEqual(['g']);
    expect(await dir.countUids()).toBe(0);
  });

  it('rehost sets exactly what a node hosts, adding and removing in the counts', async () => {
    const other = createNodeId();
    await dir.host(node, 'uid', 'a', true);
    await dir.host(node, 'uid', 'b', true);
    await dir.host(other, 'uid', 'a', true);
    await dir.host(node, 'group', 'old', true);
    await dir.rehost(node, ['b', 'c'], ['new']);
    expect(sorted(await dir.getAllUids())).toEqual(['a', 'b', 'c']); // a: still hosted by the other node
    expect(await cmd().hget(keys.uids, 'a')).toBe('1');
    expect(await dir.getAllGroups()).toEqual(['new']);
    await dir.rehost(node, ['b', 'c'], ['new']); // the same again changes nothing
    expect(await cmd().hget(keys.uids, 'b')).toBe('1');
    await dir.rehost(node, [], []);
    expect(await dir.getAllUids()).toEqual(['a']);
    expect(await dir.countGroups()).toBe(0);
  });

  it("reap removes a dead node's everything, once per lock, and is harmless when repeated", async () => {
    const dead = createNodeId();
    const live = createClientId(node);
    const ids = [createClientId(dead), createClientId(dead), createClientId(dead)];
    await dir.register(node, [{ clientId: live, uid: 'shared', groups: ['g'], session: '{}' }]);
    await dir.register(dead, ids.map((clientId, i) => ({ clientId, uid: i ? 'shared' : 'own', groups: ['g', `g${i}`], session: '{}' })));
    for (const n of [node, dead]) {
      await dir.host(n, 'uid', 'shared', true);
      await dir.host(n, 'group', 'g', true);
    }
    await dir.host(dead, 'uid', 'own', true);
    await dir.heartbeat(node, 60_000);
    await cmd().zadd(keys.nodes, 1, dead);
    await dir.publishNodeStats(dead, '{}', 60_000);
    expect(await dir.deadNodes()).toEqual([dead]);

    expect(await dir.reap(dead, node, 2, 60_000)).toBe(true); // batches of 2: two rounds
    const clean = async () => {
      expect(await dir.getAllClientIds()).toEqual([live]);
      expect(await dir.getClientIdsByUids(['shared', 'own'])).toEqual([[live], []]);
      expect(await dir.getClientIdsByGroups(['g', 'g0', 'g1', 'g2'])).toEqual([[live], [], [], []]);
      expect(await dir.getClients(ids)).toEqual([null, null, null]);
      expect(await dir.heldBy(dead)).toEqual([]);
      expect(await dir.getAllUids()).toEqual(['shared']);
      expect(await cmd().hget(keys.uids, 'shared')).toBe('1');
      expect(await dir.getAllGroups()).toEqual(['g']);
      expect(await dir.deadNodes()).toEqual([]);
      expect(await dir.isAlive(dead)).toBe(false);
      expect(await cmd().exists(keys.nodeStats(dead))).toBe(0);
    };
    await clean();
    expect(await dir.reap(dead, createNodeId(), 2, 60_000)).toBe(false); // the lock is held
    await cmd().del(keys.reapLock(dead)); // the lock expired
    expect(await dir.reap(dead, node, 2, 60_000)).toBe(true);
    await clean();
  });

  it('getNodeStats lists the stats of nodes in the liveness index only', async () => {
    const [a, b, gone] = [createNodeId(), createNodeId(), createNodeId()];
    await dir.heartbeat(a, 60_000);
    await dir.heartbeat(b, 60_000);
    await dir.publishNodeStats(a, '{"n":"a"}', 60_000);
    await dir.publishNodeStats(gone, '{"n":"gone"}', 60_000);
    expect(await dir.getNodeStats()).toEqual([{ node: a, json: '{"n":"a"}' }]);
    await dir.forgetNode(a);
    expect(await dir.getNodeStats()).toEqual([]);
    expect(await dir.isAlive(a)).toBe(false);
    expect(await dir.isAlive(b)).toBe(true);
  });
});

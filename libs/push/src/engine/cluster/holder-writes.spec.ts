import { createNodeId } from '../../identity/client-id';
import { PushLimitExceededError } from '../../errors/push.errors';
import { LocalConnection } from '../../local/local-connection';
import { LocalRegistry } from '../../local/local-registry';
import { openRedisParts, uniquePrefix, type RedisParts } from '../../test-support/redis-parts';
import { openSocketPairs, type SocketPairs } from '../../test-support/socket-pair';
import { RedisServer } from '../../../../../test/support/redis-server';
import { eventually } from '../../../../../test/support/wait';
import { LocalNode } from '../local-node';
import { HolderWrites } from './holder-writes';
import { RouteSubscriptions } from './route-subscriptions';

/** The holder's writes on a real Redis directory and real sockets: index first, then the registry, in call order. */
describe('HolderWrites', () => {
  let redis: RedisServer;
  let parts: RedisParts;
  let sockets: SocketPairs;
  let registry: LocalRegistry;
  let holder: HolderWrites;
  let node: string;
  let failures: string[];
  let conn: LocalConnection;

  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterAll(async () => {
    await redis.close();
  });
  beforeEach(async () => {
    parts = await openRedisParts({ url: redis.url }, uniquePrefix());
    node = createNodeId();
    await parts.transport.start(node, () => undefined);
    registry = new LocalRegistry({ maxBufferedBytes: 1 << 20, maxGroupsPerConnection: 2, maxSessionBytes: 64 }, parts.metrics);
    const local = new LocalNode(registry);
    failures = [];
    const subscriptions = new RouteSubscriptions(node, parts.transport, parts.directory, (what) => failures.push(what), 3000);
    registry.onMembership(subscriptions.onMembership);
    holder = new HolderWrites(local, parts.directory, subscriptions, {
      write: async (call) => {
        if (!(await call())) failures.push('missing from the index');
      },
      failed: (what) => failures.push(what),
    });
    sockets = await openSocketPairs(1);
    conn = new LocalConnection(`${node}${'a'.repeat(32)}`, sockets.pairs[0].server);
    local.add(conn);
    await parts.directory.register(node, [{ clientId: conn.id, uid: null, groups: [], session: '{}' }]);
  });
  afterEach(async () => {
    await sockets.close();
    await parts.close();
  });

  it('binds in the index and the registry, and answers false for a client it does not hold', async () => {
    expect(await holder.serve(conn.id, { fn: 'bind', uid: 'ann' }, Buffer.alloc(0), false)).toBe(true);
    expect(conn.uid).toBe('ann');
    expect(await parts.directory.getClientIdsByUids(['ann'])).toEqual([[conn.id]]);
    const stranger = `${node}${'b'.repeat(32)}`;
    expect(await holder.serve(stranger, { fn: 'bind', uid: 'ann' }, Buffer.alloc(0), false)).toBe(false);
    expect(failures).toEqual([]);
  });

  it('a bind whose connection closed while it waited leaves nothing behind', async () => {
    const bind = holder.serve(conn.id, { fn: 'bind', uid: 'late' }, Buffer.alloc(0), false);
    registry.remove(conn); // closed before the index write came back
    expect(await bind).toBe(false);
    expect(registry.connectionsOfUid('late')).toBeUndefined();
  });

  it('refuses a join past maxGroupsPerConnection before writing anything', async () => {
    for (const group of ['g1', 'g2']) await holder.serve(conn.id, { fn: 'join', group }, Buffer.alloc(0), false);
    await expect(holder.serve(conn.id, { fn: 'join', group: 'g3' }, Buffer.alloc(0), false)).rejects.toBeInstanceOf(
      PushLimitExceededError,
    );
    expect(await parts.directory.countClientsByGroups(['g1', 'g2', 'g3'])).toEqual([1, 1, 0]);
  });

  it('applies concurrent session updates in call order, each on the result of the one before', async () => {
    const empty = Buffer.alloc(0);
    const [, , merged] = await Promise.all([
      holder.serve(conn.id, { fn: 'setSession', session: { a: 1 } }, empty, false),
      holder.serve(conn.id, { fn: 'updateSession', patch: { b: 2 } }, empty, false),
      holder.serve(conn.id, { fn: 'updateSession', patch: { c: 3 } }, empty, false),
    ]);
    expect(merged).toEqual({ a: 1, b: 2, c: 3 });
    expect((await parts.directory.getClients([conn.id]))[0]?.session).toEqual({ a: 1, b: 2, c: 3 });
    await expect(
      holder.serve(conn.id, { fn: 'setSession', session: { big: 'x'.repeat(100) } }, empty, false),
    ).rejects.toBeInstanceOf(PushLimitExceededError);
  });

  it('dissolves a group among its connections and in their entries', async () => {
    await holder.serve(conn.id, { fn: 'join', group: 'room' }, Buffer.alloc(0), false);
    expect(holder.dropGroup('room')).toBe(1);
    expect(conn.groups.has('room')).toBe(false);
    // The entry's write is not awaited by anyone (ungroup answers from the group's own set): it lands a moment later.
    await eventually(async () => (await parts.directory.getClients([conn.id]))[0]?.groups.length === 0);
    expect(await parts.directory.countClientsByGroups(['room'])).toEqual([0]);
    expect(failures).toEqual([]);
  });
});

import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { PushEngineUnavailableError, RedisKeys } from 'nest-push-channel';
import { RedisServer } from './support/redis-server';
import { startApp, TestApp } from './support/test-app';
import { TestClient } from './support/test-client';
import { eventually } from './support/wait';

/**
 * Redis faults against two in-process nodes: what keeps working during an outage, what fails and how, and how
 * each node restores its own state when Redis comes back empty, without any client reconnecting.
 */
describe('Redis engine faults', () => {
  let redis: RedisServer;
  let a: TestApp;
  let b: TestApp;
  let admin: Redis;
  const prefix = `faults-${randomBytes(4).toString('hex')}:`;

  beforeAll(async () => {
    redis = await RedisServer.start();
    const engine = { type: 'redis' as const, url: redis.url, prefix, nodeTtl: 1000 };
    a = await startApp({ engine });
    b = await startApp({ engine });
    admin = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  });
  afterAll(async () => {
    admin.disconnect();
    await a.close();
    await b.close();
    await redis.close();
  });

  it('survives a Redis restart: local delivery goes on, cluster calls fail fast, state comes back', async () => {
    const onA = await TestClient.connect(a.wsUrl);
    const onB = await TestClient.connect(b.wsUrl);
    await a.push.bindUid(onA.clientId, 'ann');
    await a.push.joinGroup(onA.clientId, 'team');
    await a.push.setSession(onA.clientId, { role: 'admin' });
    await a.push.bindUid(onB.clientId, 'ben'); // across nodes: A asks B
    await a.push.joinGroup(onB.clientId, 'team');
    expect(await b.push.getAllClientIdCount()).toBe(2);

    await redis.stop();

    // Local delivery goes on; the cluster part is a typed 503 that says what reached this node.
    const partial = await a.push.sendToUid('ann', 'during outage').catch((e) => e);
    expect(partial).toBeInstanceOf(PushEngineUnavailableError);
    expect(partial.delivered).toBe(1);
    expect(partial.getResponse()).toMatchObject({ statusCode: 503, code: 'engine_unavailable', delivered: 1 });
    expect(await onA.next()).toBe('during outage');
    expect(await a.push.sendToClient(onA.clientId, 'local by id')).toBe(1);
    expect(await onA.next()).toBe('local by id');
    // Queries, remote sends and binds fail at once instead of hanging.
    await expect(a.push.getAllClientIdCount()).rejects.toBeInstanceOf(PushEngineUnavailableError);
    await expect(a.push.sendToClient(onB.clientId, 'x')).rejects.toBeInstanceOf(PushEngineUnavailableError);
    await expect(a.push.bindUid(onA.clientId, 'someone-else')).rejects.toBeInstanceOf(PushEngineUnavailableError);
    expect(await a.push.getUidByClientId(onA.clientId).catch((e) => e)).toBeInstanceOf(PushEngineUnavailableError);

    // A connection accepted during the outage is served locally and indexed once Redis is back.
    const late = await TestClient.connect(b.wsUrl);

    await redis.restart(); // empty, like a cache that lost everything
    await eventually(async () => (await a.push.getAllClientIdCount().catch(() => -1)) === 3, 10_000);

    expect(await a.push.getUidByClientId(onA.clientId)).toBe('ann'); // the failed re-bind changed nothing
    expect(await a.push.getSession(onA.clientId)).toEqual({ role: 'admin' });
    expect((await b.push.getClientIdListByGroup('team')).sort()).toEqual([onA.clientId, onB.clientId].sort());
    expect(await b.push.sendToUid('ben', 'cross-node again')).toBe(1);
    expect(await onB.next()).toBe('cross-node again');
    expect(await b.push.sendToGroup('team', 'team again')).toBe(2);
    expect(await onA.next()).toBe('team again');
    expect(await onB.next()).toBe('team again');
    expect(await a.push.isOnline(late.clientId)).toBe(true);
    expect(a.push.getMetrics().engineResyncs).toBeGreaterThanOrEqual(1);
    // Nobody reconnected.
    for (const c of [onA, onB, late]) expect(c.socket.readyState).toBe(c.socket.OPEN);
    await a.disconnect([onA]);
    await b.disconnect([onB, late]);
    expect(await a.push.getAllClientIdCount()).toBe(0);
  });

  it('a node that finds itself missing from the index writes itself back', async () => {
    const c = await TestClient.connect(a.wsUrl);
    await a.push.bindUid(c.clientId, 'restored');
    await admin.connect().catch(() => undefined);
    // What the reaper does to a node it believes dead (e.g. after a long pause): its entries go.
    const node = a.push.nodeId;
    const keys = new RedisKeys(prefix);
    await admin.zrem(keys.nodes, node);
    await admin.del(keys.connection(c.clientId), keys.connectionGroups(c.clientId), keys.uidMembers('restored'));
    await admin.del(keys.nodeClients(node));
    await admin.zrem(keys.hostsByName('uid'), `restored\0${node}`);
    await admin.zrem(keys.hostsByNode('uid'), `${node}\0restored`);
    await admin.srem(keys.clients, c.clientId);
    await admin.hdel(keys.uids, 'restored');
    expect(await b.push.isOnline(c.clientId)).toBe(false);
    await eventually(async () => b.push.isOnline(c.clientId), 10_000);
    expect(await b.push.getClientIdByUid('restored')).toEqual([c.clientId]);
    await a.disconnect([c]);
  });
});

/**
 * A write that fails half-way: the connection's own entry can be written while its membership on another slot is
 * refused (on a cluster: that slot's master is down; here: an ACL that refuses the uid's keys, which plays the same
 * failure on one Redis). Nothing may stay behind that no record names: the resync must find and undo it.
 */
describe('Redis engine: a disconnect whose membership write fails', () => {
  let redis: RedisServer;
  let admin: Redis;
  let t: TestApp;
  const prefix = `acl-${randomBytes(4).toString('hex')}:`;
  const keys = new RedisKeys(prefix);

  beforeAll(async () => {
    redis = await RedisServer.start();
    admin = new Redis(redis.url);
    await admin.call('ACL', 'SETUSER', 'engine', 'on', '>pw', '~*', '&*', '+@all');
    const url = `redis://engine:pw@127.0.0.1:${redis.port}`;
    t = await startApp({ engine: { type: 'redis', url, prefix, nodeTtl: 1000 } });
  });
  afterAll(async () => {
    await t?.close();
    admin?.disconnect();
    await redis?.close();
  });

  it('leaves no phantom member once the resync ran', async () => {
    const client = await TestClient.connect(t.wsUrl);
    await t.push.bindUid(client.clientId, 'acl');
    expect(await admin.smembers(keys.uidMembers('acl'))).toEqual([client.clientId]);
    // From now on the engine may write its node's and the cluster-wide entries, but not a uid's set.
    await admin.call('ACL', 'SETUSER', 'engine', 'resetkeys', `~${prefix}{n:*`, `~${prefix}{all}*`);
    const errors = t.push.getMetrics().engineErrors;
    await t.disconnect([client]);
    expect(t.push.getMetrics().engineErrors).toBeGreaterThan(errors); // the refused SREM, counted
    await admin.call('ACL', 'SETUSER', 'engine', 'allkeys');
    const resyncs = t.push.getMetrics().engineResyncs;
    await eventually(async () => t.push.getMetrics().engineResyncs > resyncs, 10_000);
    expect(await admin.smembers(keys.uidMembers('acl'))).toEqual([]);
    expect(await t.push.isUidOnline('acl')).toBe(false);
    expect(await t.push.getAllClientIdCount()).toBe(0);
  });

  it('a bind whose membership write is refused answers 503, and the resync puts the index back in step', async () => {
    const client = await TestClient.connect(t.wsUrl);
    // The connection's own entry may be written (its node's slot), its uid's set may not: the write fails half-way.
    await admin.call('ACL', 'SETUSER', 'engine', 'resetkeys', `~${prefix}{n:*`, `~${prefix}{all}*`);
    await expect(t.push.bindUid(client.clientId, 'half')).rejects.toBeInstanceOf(PushEngineUnavailableError);
    expect(await t.push.getUidByClientId(client.clientId)).toBe('half'); // the index says so, the holder does not
    await admin.call('ACL', 'SETUSER', 'engine', 'allkeys');
    // Nothing else happens on this node: only the resync the failed write owed can bring the index back.
    await eventually(async () => (await t.push.getUidByClientId(client.clientId)) === null, 10_000);
    expect(await t.push.sendToUid('half', 'x')).toBe(0);
    await t.disconnect([client]);
  });
});

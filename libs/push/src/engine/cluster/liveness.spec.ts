import { createClientId, createNodeId } from '../../identity/client-id';
import type { EncodedMessage } from '../../message/encoded-message';
import { openRedisParts, uniquePrefix, type RedisParts } from '../../test-support/redis-parts';
import { RedisServer } from '../../../../../test/support/redis-server';
import { eventually } from '../../../../../test/support/wait';
import { Liveness, type LivenessHooks } from './liveness';
import { NodeMessaging, type ClusterInbox } from './node-messaging';

describe('Liveness on a real Redis', () => {
  let redis: RedisServer;
  let parts: RedisParts;
  let node: string;
  let liveness: Liveness;
  let deafCalls: number[];
  let resyncs: string[];
  let failures: unknown[];
  let heard: number[];

  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterAll(async () => {
    await redis.close();
  });
  beforeEach(async () => {
    parts = await openRedisParts({ url: redis.url }, uniquePrefix());
    node = createNodeId();
    deafCalls = [];
    resyncs = [];
    failures = [];
    heard = [];
    // The probe goes the real way: published to this node's channel, decoded by NodeMessaging, heard by Liveness.
    const inbox: ClusterInbox = {
      push: (_r, _m: EncodedMessage) => undefined,
      pushToClients: () => undefined,
      pushToGroups: () => undefined,
      closeUid: () => undefined,
      ungroup: () => undefined,
      probeHeard: (id) => {
        heard.push(id);
        liveness.heard(id);
      },
      serve: async () => undefined,
    };
    const messaging = new NodeMessaging(node, parts.transport, inbox, parts.metrics, 5_000, (n) => parts.directory.isAlive(n));
    await parts.transport.start(node, (route, payload) => messaging.receive(route, payload));
    const hooks: LivenessHooks = {
      sendProbe: async (id) => void (await parts.transport.publishToNode(node, messaging.encode({ op: 'probe', id }))),
      deaf: (silentMs) => deafCalls.push(silentMs),
      resync: (reason) => resyncs.push(reason),
      resyncOwed: false,
      withdrawn: false,
      failed: (error) => failures.push(error),
    };
    liveness = new Liveness(node, parts.directory, parts.transport, hooks, { nodeTtl: 60_000, reapInterval: 100 });
  });
  afterEach(async () => {
    liveness.stop();
    await parts.close();
  });

  it('start() registers the node as alive', async () => {
    expect(await parts.directory.isAlive(node)).toBe(false);
    await liveness.start();
    expect(await parts.directory.isAlive(node)).toBe(true);
    expect(await parts.directory.deadNodes()).toEqual([]);
  });

  it('a tick on an index that lost this node asks for a resync', async () => {
    await liveness.tick();
    expect(resyncs).toEqual(['this node was missing from the index']);
    await liveness.tick();
    expect(resyncs).toHaveLength(1);
  });

  it('reaps a dead node (an expired entry) with its connections and hosted names', async () => {
    const dead = createNodeId();
    const clientId = createClientId(dead);
    await parts.directory.register(dead, [{ clientId, uid: 'u1', groups: ['g1'], session: '{}' }]);
    await parts.directory.host(dead, 'uid', 'u1', true);
    await parts.directory.host(dead, 'group', 'g1', true);
    await parts.connections.cmd.zadd(parts.keys.nodes, 1, dead); // expired at 1 ms past the epoch
    expect(await parts.directory.countClients()).toBe(1);

    await liveness.start();
    await liveness.tick();

    expect(await parts.directory.deadNodes()).toEqual([]);
    expect(await parts.directory.countClients()).toBe(0);
    expect(await parts.directory.countUids()).toBe(0);
    expect(await parts.directory.countGroups()).toBe(0);
    expect(await parts.directory.getClientIdsByUids(['u1'])).toEqual([[]]);
    expect(await parts.directory.getClientIdsByGroups(['g1'])).toEqual([[]]);
    expect(await parts.directory.heldBy(dead)).toEqual([]);
    expect(await parts.directory.isAlive(node)).toBe(true); // only the dead one went
    expect(failures).toEqual([]);
  });

  it("is 'up' while probes come back, 'deaf' once the listener stops hearing them, and calls the deaf hook", async () => {
    await parts.directory.heartbeat(node, 60_000);
    await liveness.tick();
    await eventually(() => heard.length === 1);
    expect(liveness.listenerState()).toBe('up');
    expect(deafCalls).toEqual([]);

    // The listener goes deaf for real: Redis no longer delivers this node's channel to it.
    await parts.connections.listener.unsubscribe([parts.keys.nodeChannel(node)]);
    await liveness.tick(); // this probe is published (Redis acknowledges it) but nobody hears it
    await eventually(() => liveness.listenerState() === 'deaf', 5_000);
    expect(deafCalls).toEqual([]);
    await liveness.tick(); // finds the probe overdue
    await eventually(() => deafCalls.length === 1);
    expect(deafCalls[0]).toBeGreaterThanOrEqual(150); // DEAF_AFTER_INTERVALS × reapInterval
  });

  it("is 'reconnecting' while the listener is down", async () => {
    await redis.stop();
    try {
      await eventually(() => liveness.listenerState() === 'reconnecting');
    } finally {
      await redis.restart();
    }
    await parts.transport.whenListening(5_000);
    expect(liveness.listenerState()).toBe('up');
  });
});

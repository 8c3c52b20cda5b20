import { randomBytes } from 'node:crypto';
import { PushEngineUnavailableError, RedisKeys } from 'nest-push-channel';
import { RedisCluster } from './support/redis-cluster';
import { startApp, type TestApp } from './support/test-app';
import { TestClient } from './support/test-client';
import { eventually } from './support/wait';

/*
 * The Redis engine on a real Redis Cluster (three masters, no replicas) when one master dies and comes back empty:
 * what lives in its slots is unavailable meanwhile (a typed 503, never a silent 0), everything else keeps working,
 * and once it is back each node writes its own connections back into the index, with nobody reconnecting.
 */
describe('Redis Cluster: one master dies, then restarts empty', () => {
  let cluster: RedisCluster;
  let a: TestApp;
  let pushOnly: TestApp;
  const prefix = `rcf-${randomBytes(4).toString('hex')}:`;
  let keys: RedisKeys;

  beforeAll(async () => {
    cluster = await RedisCluster.start({ masters: 3 });
    const engine = { type: 'redis' as const, cluster: cluster.startupNodes, prefix, nodeTtl: 2000, requestTimeout: 1000 };
    a = await startApp({ engine });
    pushOnly = await startApp({ engine, gateway: false });
    keys = new RedisKeys(prefix);
  }, 60_000);
  afterAll(async () => {
    await a?.close();
    await pushOnly?.close();
    await cluster?.close();
  });

  /** A uid whose member set and channel live on master `index`, and one that does not. */
  function uidOn(index: number, not = false): string {
    for (let i = 0; ; i++) {
      const uid = `u${i}-${randomBytes(2).toString('hex')}`;
      if ((cluster.masterOf(keys.uidMembers(uid)) === index) !== not) return uid;
    }
  }

  it('pushes to the dead master\'s slots fail with 503, the others are delivered; all is restored after its restart', async () => {
    // The dying master holds neither this node's entries nor the cluster-wide ones, only the doomed uid.
    const survivors = new Set([cluster.masterOf(keys.nodes), cluster.masterOf(keys.nodeClients(a.push.nodeId))]);
    const dying = [0, 1, 2].find((i) => !survivors.has(i));
    if (dying === undefined) throw new Error('every master holds a survivor key: pick another prefix'); // 1 in 9
    const doomed = uidOn(dying);
    const safe = uidOn(dying, true);
    const [onDoomed, onSafe] = await Promise.all([TestClient.connect(a.wsUrl), TestClient.connect(a.wsUrl)]);
    await pushOnly.push.bindUid(onDoomed.clientId, doomed);
    await pushOnly.push.bindUid(onSafe.clientId, safe);
    expect(await pushOnly.push.sendToUid([doomed, safe], 'before')).toBe(2);
    expect([await onDoomed.next(), await onSafe.next()]).toEqual(['before', 'before']);

    await cluster.stopMaster(dying);
    await expect(pushOnly.push.sendToUid(doomed, 'lost')).rejects.toBeInstanceOf(PushEngineUnavailableError);
    expect(await pushOnly.push.sendToUid(safe, 'during')).toBe(1);
    expect(await onSafe.next()).toBe('during');
    // The holder still delivers locally, and says the cluster part failed.
    await expect(a.push.sendToUid(doomed, 'local')).rejects.toMatchObject({ delivered: 1 });
    expect(await onDoomed.next()).toBe('local');
    // A send over both: the safe uid's shard published it, so the 503 counts that delivery (a caller that sends it
    // again knows one copy went out), and its client gets it.
    await expect(pushOnly.push.sendToUid([doomed, safe], 'part')).rejects.toMatchObject({ delivered: 1 });
    expect(await onSafe.next()).toBe('part');

    const resyncs = a.push.getMetrics().engineResyncs;
    await cluster.restartMaster(dying); // empty: the uid's member set is gone
    await eventually(async () => a.push.getMetrics().engineResyncs > resyncs, 20_000);
    await eventually(async () => (await pushOnly.push.getClientIdByUid(doomed)).length === 1, 20_000);
    expect(await pushOnly.push.sendToUid([doomed, safe], 'after')).toBe(2);
    expect([await onDoomed.next(), await onSafe.next()]).toEqual(['after', 'after']);
    // Nobody reconnected.
    for (const c of [onDoomed, onSafe]) expect(c.socket.readyState).toBe(c.socket.OPEN);
    await a.disconnect([onDoomed, onSafe]);
  }, 60_000);
});

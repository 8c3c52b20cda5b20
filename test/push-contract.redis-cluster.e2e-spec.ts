import { randomBytes } from 'node:crypto';
import { describePushEngineContract } from 'nest-push-channel/testing';
import { RedisCluster } from './support/redis-cluster';

/*
 * The exported contract suite on the Redis engine over a real Redis Cluster of the test's own (three masters on free
 * ports, sharded pub/sub): two gateway nodes and a push-only node, as on one Redis.
 */
let cluster: RedisCluster;
const prefix = `contract-${randomBytes(4).toString('hex')}:`;

beforeAll(async () => {
  cluster = await RedisCluster.start({ masters: 3 });
}, 60_000);
afterAll(async () => {
  await cluster?.close();
});

describePushEngineContract('redis engine on Redis Cluster', {
  cluster: true,
  createEngine: () => ({ type: 'redis', cluster: cluster.startupNodes, prefix }),
});

import { randomBytes } from 'node:crypto';
import { describePushEngineContract } from 'nest-push-channel/testing';
import { RedisServer } from './support/redis-server';

/*
 * The exported contract suite on the Redis engine, as a cluster: two gateway nodes and a push-only node, all on one
 * redis-server of the test's own. The engine is given as options, as an app gives it (the RedisEngine class is
 * loaded on demand, ioredis being an optional peer).
 */
let redis: RedisServer;
const prefix = `contract-${randomBytes(4).toString('hex')}:`;

beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(async () => {
  await redis?.close();
});

describePushEngineContract('redis engine', {
  cluster: true,
  createEngine: () => ({ type: 'redis', url: redis.url, prefix }),
});

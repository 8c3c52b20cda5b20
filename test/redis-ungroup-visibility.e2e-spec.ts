import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { ContractClient } from 'nest-push-channel/testing/contract-client';
import { startContractNode, type ContractNode } from 'nest-push-channel/testing/contract-node';
import { RedisServer } from './support/redis-server';
import { eventually } from './support/wait';

/*
 * The contract says a group is no longer listed once `ungroup` resolved. The group's hosting count is undone by each
 * holder when it hears the `ungroup` message, after `ungroup` already resolved on the caller; so a holder whose
 * listener is a moment behind (here: its socket's reading paused, for real) leaves the group listed. The contract
 * suite hits this now and then when two nodes share one event loop.
 */
let redis: RedisServer;
const prefix = `ug-${randomBytes(4).toString('hex')}:`;
let holder: ContractNode;
let caller: ContractNode;
let cmd: Redis;
let subscriber: Redis;
let client: ContractClient | null = null;

beforeAll(async () => {
  redis = await RedisServer.start();
  cmd = new Redis(redis.url, { enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: 3_000, lazyConnect: true });
  subscriber = new Redis(redis.url, { lazyConnect: true });
  holder = await startContractNode({ type: 'redis', client: cmd, subscriber, prefix }, true);
  caller = await startContractNode({ type: 'redis', url: redis.url, prefix }, false);
});
afterAll(async () => {
  client?.close();
  await caller?.close();
  await holder?.close();
  cmd?.disconnect();
  subscriber?.disconnect();
  await redis?.close();
});

// Found by the parts specs: `ungroup` resolved while the group was still counted until every holder had heard of
// it. The caller now clears the group's hosting itself (`ClusterDirectory.unhostEverywhere`).
it('a group is not listed once ungroup resolved, even while a holder is slow to hear it', async () => {
  client = await ContractClient.connect(holder.wsUrl!);
  await caller.push.joinGroup(client.clientId, 'g');
  expect(await caller.push.getAllGroupIdList()).toEqual(['g']);

  subscriber.stream.pause(); // the holder's listener reads nothing for now
  try {
    expect(await caller.push.ungroup('g')).toBe(1);
    expect(await caller.push.getAllGroupIdList()).toEqual([]);
    expect(await caller.push.getClientIdCountByGroup('g')).toBe(0);
  } finally {
    subscriber.stream.resume();
  }
  await eventually(async () => (await holder.push.getAllGroupIdList()).length === 0);
});

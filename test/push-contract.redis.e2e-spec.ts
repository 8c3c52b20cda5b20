import { randomBytes } from 'node:crypto';
import { describePushContract } from './contract/push-contract';
import { RedisServer } from './support/redis-server';
import { startApp, TestApp } from './support/test-app';
import { TestClient } from './support/test-client';

/*
 * The same contract on the Redis engine, as a cluster: two gateway nodes hold the sockets (clients alternate
 * between them) and every call goes through a third, push-only node that holds none.
 */
describePushContract('redis engine, two gateway nodes + a push-only node', async () => {
  const redis = await RedisServer.start();
  const engine = { type: 'redis' as const, url: redis.url, prefix: `contract-${randomBytes(4).toString('hex')}:` };
  const nodes: TestApp[] = [];
  for (const gateway of [true, true, false]) nodes.push(await startApp({ engine, gateway }));
  const [a, b, pushOnly] = nodes;
  let turn = 0;
  return {
    push: pushOnly.push,
    events: [a.events, b.events],
    connect: () => TestClient.connect((turn++ % 2 === 0 ? a : b).wsUrl),
    close: async () => {
      for (const node of nodes) await node.close();
      await redis.close();
    },
  };
});

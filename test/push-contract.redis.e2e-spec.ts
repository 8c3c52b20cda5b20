import { randomBytes } from 'node:crypto';
import { describePushContract } from './contract/push-contract';
import { RedisServer } from './support/redis-server';
import { startApp, TestApp } from './support/test-app';
import { TestClient } from './support/test-client';

/*
 * The same contract on the Redis engine, as a cluster: two gateway nodes hold the sockets (clients alternate
 * between them). Calls go through a third, push-only node that holds none (every call crosses nodes), and then
 * through one of the gateway nodes (half the calls are local to the holder, half cross).
 */
async function cluster(callFrom: 'push-only' | 'gateway') {
  const redis = await RedisServer.start();
  const engine = { type: 'redis' as const, url: redis.url, prefix: `contract-${randomBytes(4).toString('hex')}:` };
  const nodes: TestApp[] = [];
  for (const gateway of [true, true, false]) nodes.push(await startApp({ engine, gateway }));
  const [a, b, pushOnly] = nodes;
  let turn = 0;
  return {
    push: callFrom === 'push-only' ? pushOnly.push : a.push,
    events: [a.events, b.events],
    connect: () => TestClient.connect((turn++ % 2 === 0 ? a : b).wsUrl),
    close: async () => {
      for (const node of nodes) await node.close();
      await redis.close();
    },
  };
}

describePushContract('redis engine, called from a push-only node', () => cluster('push-only'));
describePushContract('redis engine, called from a gateway node', () => cluster('gateway'));

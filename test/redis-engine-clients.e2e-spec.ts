import { randomBytes } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import Redis, { Cluster, type RedisOptions } from 'ioredis';
import { PushModule, PushWsAdapter, type RedisEngineOptions } from 'nest-push-channel';
import { describePushEngineContract } from 'nest-push-channel/testing';
import { ContractClient } from 'nest-push-channel/testing/contract-client';
import { startContractNode } from 'nest-push-channel/testing/contract-node';
import { RedisCluster } from './support/redis-cluster';
import { RedisServer } from './support/redis-server';

/*
 * The Redis engine on connections the app made itself: a caller's ioredis `client` (with or without its own
 * `subscriber`), or a `createClient` factory. The contract suite runs on both; then who closes what, and what is
 * refused at start.
 */
let redis: RedisServer;
/** Every connection this file made, closed at the end whatever the engines did. */
const made: Redis[] = [];

function connection(options: RedisOptions = {}): Redis {
  const client = new Redis(redis.url, { lazyConnect: true, ...options });
  made.push(client);
  return client;
}

/** What the README advises for a command connection: fail fast instead of queueing. */
const failFast: RedisOptions = { enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: 3_000 };

beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(async () => {
  for (const client of made) client.disconnect();
  await redis?.close();
});

describe('contract with client', () => {
  // One keyspace for the nodes of the suite (they form one cluster), one client of the caller's per node.
  const prefix = `cc-${randomBytes(4).toString('hex')}:`;
  describePushEngineContract('redis engine on a caller-provided client', {
    cluster: true,
    createEngine: () => ({ type: 'redis', client: connection(failFast), prefix }),
  });
});

describe('contract with createClient', () => {
  const prefix = `cf-${randomBytes(4).toString('hex')}:`;
  describePushEngineContract('redis engine on createClient connections', {
    cluster: true,
    createEngine: () => ({
      type: 'redis',
      prefix,
      createClient: (role) => connection(role === 'command' ? failFast : {}),
    }),
  });
});

describe('who closes what', () => {
  const apps: INestApplication[] = [];
  afterEach(async () => {
    for (const app of apps.splice(0)) await app.close().catch(() => undefined);
  });

  async function start(engine: Omit<RedisEngineOptions, 'type'>): Promise<INestApplication> {
    const app = await NestFactory.create(PushModule.forRoot({ engine: { type: 'redis', ...engine } }), {
      logger: false,
      abortOnError: false,
    });
    apps.push(app);
    app.useWebSocketAdapter(new PushWsAdapter(app));
    await app.init();
    return app;
  }

  /** The engine's channels Redis still counts a subscriber on. */
  async function channels(prefix: string): Promise<string[]> {
    const probe = connection();
    await probe.connect();
    const names = (await probe.pubsub('CHANNELS', `${prefix}*`)) as string[];
    probe.disconnect();
    return names;
  }

  it("never disconnects a caller's client and subscriber, and leaves the subscriber listening on none of its channels", async () => {
    const prefix = `own-${randomBytes(4).toString('hex')}:`;
    const client = connection(failFast);
    const subscriber = connection();
    await Promise.all([client.connect(), subscriber.connect()]);
    const handlers = () => ['error', 'ready', 'close', 'end'].map((event) => client.listenerCount(event) + subscriber.listenerCount(event));
    const before = handlers();
    const app = await start({ client, subscriber, prefix });
    expect((await channels(prefix)).length).toBeGreaterThan(0);
    await app.close();
    apps.length = 0;
    expect(await client.ping()).toBe('PONG');
    expect(await subscriber.subscribe(`${prefix}mine`)).toBe(1); // still connected: the app's to use
    expect(await channels(prefix)).toEqual([`${prefix}mine`]);
    expect(subscriber.listenerCount('messageBuffer')).toBe(0); // no handler of the closed engine left on it
    expect(handlers()).toEqual(before); // nor on the command client: an app that restarts its engine would pile them up
  });

  it("never disconnects a caller's client, and closes the duplicate it made for subscribing", async () => {
    const prefix = `dup-${randomBytes(4).toString('hex')}:`;
    const client = connection(failFast);
    const app = await start({ client, prefix });
    expect((await channels(prefix)).length).toBeGreaterThan(0);
    await app.close();
    apps.length = 0;
    expect(await client.ping()).toBe('PONG');
    expect(await channels(prefix)).toEqual([]);
  });

  it('disconnects both connections that createClient returned', async () => {
    const returned: Redis[] = [];
    const roles: string[] = [];
    const app = await start({
      prefix: `fac-${randomBytes(4).toString('hex')}:`,
      createClient: (role) => {
        roles.push(role);
        const client = connection(role === 'command' ? failFast : {});
        returned.push(client);
        return client;
      },
    });
    expect(roles.sort()).toEqual(['command', 'subscriber']);
    expect(returned.map((c) => c.status)).toEqual(['ready', 'ready']);
    const ended = Promise.all(returned.map((c) => new Promise((resolve) => c.once('end', resolve))));
    await app.close();
    apps.length = 0;
    await ended;
    expect(returned.map((c) => c.status)).toEqual(['end', 'end']);
  });

  it("waits for a caller's client and subscriber that are still connecting (not lazy), rather than failing", async () => {
    const prefix = `early-${randomBytes(4).toString('hex')}:`;
    const client = new Redis(redis.url, failFast);
    const subscriber = new Redis(redis.url);
    made.push(client, subscriber);
    expect(client.status).not.toBe('ready');
    await start({ client, subscriber, prefix });
    expect(await channels(prefix)).toHaveLength(2); // its node channel and everyone's
  });

  it('refuses a client that is not an ioredis instance, at start, with a clear error', async () => {
    const fake = { get: () => undefined, set: () => undefined, status: 'ready' };
    await expect(start({ client: fake })).rejects.toThrow(/engine\.client must be an ioredis Redis or Cluster instance/);
    await expect(start({ createClient: () => ({}) })).rejects.toThrow(
      /engine\.createClient\("command"\) must be an ioredis Redis or Cluster instance/,
    );
  });

  it('refuses a subscriber without a client', async () => {
    const subscriber = connection();
    await expect(start({ subscriber })).rejects.toThrow(/engine\.subscriber needs engine\.client/);
    expect(subscriber.status).toBe('wait'); // untouched
  });
});

describe("a caller's own Redis Cluster clients", () => {
  let cluster: RedisCluster;
  const clients: Cluster[] = [];
  beforeAll(async () => {
    cluster = await RedisCluster.start({ masters: 3 });
  }, 60_000);
  afterAll(async () => {
    for (const client of clients) client.disconnect();
    await cluster?.close();
  });

  /** The sharded channels under `prefix` that any master still counts a subscriber on. */
  async function shardChannels(prefix: string): Promise<string[]> {
    const names: string[] = [];
    for (const address of cluster.nodes) {
      const probe = new Redis(address.port, address.host);
      names.push(...((await probe.pubsub('SHARDCHANNELS', `${prefix}*`)) as string[]));
      probe.disconnect();
    }
    return names.sort();
  }

  it('are used (sharded pub/sub) and left connected, listening on none of its channels, after close', async () => {
    const prefix = `cl-${randomBytes(4).toString('hex')}:`;
    const client = new Cluster(cluster.startupNodes, { enableOfflineQueue: false, redisOptions: { maxRetriesPerRequest: 0, commandTimeout: 3_000 } });
    const subscriber = new Cluster(cluster.startupNodes, { shardedSubscribers: true });
    clients.push(client, subscriber);
    const node = await startContractNode({ type: 'redis', client, subscriber, prefix }, true);
    let closed = false;
    try {
      const ws = await ContractClient.connect(node.wsUrl!);
      await node.push.bindUid(ws.clientId, 'u1');
      expect(await node.push.sendToUid('u1', 'hi')).toBe(1);
      expect(await ws.next()).toBe('hi');
      expect(await shardChannels(prefix)).toContain(`${prefix}{u:u1}ch`);
      ws.close();
      await node.close();
      closed = true;
    } finally {
      if (!closed) await node.close();
    }
    expect(await client.set(`${prefix}still`, '1')).toBe('OK');
    expect(await shardChannels(prefix)).toEqual([]);
    expect(subscriber.listenerCount('smessageBuffer')).toBe(0);
  });

  it('a Cluster client without a subscriber: the engine listens through its own connection per master', async () => {
    const prefix = `cl-${randomBytes(4).toString('hex')}:`;
    const client = new Cluster(cluster.startupNodes, { enableOfflineQueue: false, redisOptions: { maxRetriesPerRequest: 0, commandTimeout: 3_000 } });
    clients.push(client);
    const node = await startContractNode({ type: 'redis', client, prefix }, true);
    let closed = false;
    try {
      const ws = await ContractClient.connect(node.wsUrl!);
      await node.push.bindUid(ws.clientId, 'u2');
      expect(await node.push.sendToUid('u2', 'hi')).toBe(1);
      expect(await ws.next()).toBe('hi');
      expect(await shardChannels(prefix)).toContain(`${prefix}{u:u2}ch`);
      ws.close();
      await node.close();
      closed = true;
    } finally {
      if (!closed) await node.close();
    }
    expect(await client.set(`${prefix}still`, '1')).toBe('OK'); // the caller's client is left connected
    expect(await shardChannels(prefix)).toEqual([]);
  });

  it('createClient returning a Cluster is asked for the command connection only, and that one is closed', async () => {
    const prefix = `cl-${randomBytes(4).toString('hex')}:`;
    const roles: string[] = [];
    let made: Cluster | undefined;
    const node = await startContractNode(
      {
        type: 'redis',
        prefix,
        createClient: (role) => {
          roles.push(role);
          made = new Cluster(cluster.startupNodes, { enableOfflineQueue: false, redisOptions: { maxRetriesPerRequest: 0 } });
          return made;
        },
      },
      true,
    );
    let closed = false;
    try {
      const ws = await ContractClient.connect(node.wsUrl!);
      await node.push.bindUid(ws.clientId, 'u3');
      expect(await node.push.sendToUid('u3', 'hi')).toBe(1);
      expect(await ws.next()).toBe('hi');
      ws.close();
      await node.close();
      closed = true;
    } finally {
      if (!closed) await node.close();
    }
    expect(roles).toEqual(['command']);
    expect(['disconnecting', 'close', 'end']).toContain(made?.status); // closed by the engine (asynchronously)
  });
});

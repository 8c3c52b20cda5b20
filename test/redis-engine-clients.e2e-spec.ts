import { randomBytes } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import Redis, { type RedisOptions } from 'ioredis';
import { PushModule, PushWsAdapter, type RedisEngineOptions } from 'nest-push-channel';
import { describePushEngineContract } from 'nest-push-channel/testing';
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

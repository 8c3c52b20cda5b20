import { createNodeId } from '../../identity/client-id';
import { openRedisParts, uniquePrefix, type RedisParts } from '../../test-support/redis-parts';
import { RedisServer } from '../../../../../test/support/redis-server';
import { eventually } from '../../../../../test/support/wait';
import { RouteSubscriptions } from './route-subscriptions';

describe('RouteSubscriptions on a real Redis', () => {
  let redis: RedisServer;
  let parts: RedisParts;
  let node: string;
  let failures: string[];
  let subscriptions: RouteSubscriptions;

  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterAll(async () => {
    await redis.close();
  });
  beforeEach(async () => {
    parts = await openRedisParts({ url: redis.url }, uniquePrefix());
    node = createNodeId();
    await parts.transport.start(node, () => undefined);
    failures = [];
    subscriptions = new RouteSubscriptions(node, parts.transport, parts.directory, (what) => failures.push(what), 3000);
  });
  afterEach(async () => {
    await parts.close();
  });

  /** How many subscribers Redis counts on a channel (PUBSUB NUMSUB). */
  async function listeners(channel: string): Promise<number> {
    const reply = (await parts.connections.cmd.pubsub('NUMSUB', channel)) as [string, number];
    return Number(reply[1]);
  }

  it.each(['uid', 'group'] as const)('first %s member: subscribed and hosted; last member: unsubscribed and unhosted', async (kind) => {
    const name = kind === 'uid' ? 'u:{1}ü' : 'g}1';
    const channel = kind === 'uid' ? parts.keys.uidChannel(name) : parts.keys.groupChannel(name);
    const count = () => (kind === 'uid' ? parts.directory.countUids() : parts.directory.countGroups());
    const all = () => (kind === 'uid' ? parts.directory.getAllUids() : parts.directory.getAllGroups());

    subscriptions.onMembership(kind, name, true);
    await subscriptions.ready(kind, name);
    expect(await listeners(channel)).toBe(1); // ready() waited for Redis to confirm
    expect(subscriptions.size).toBe(1);
    expect(subscriptions.all()).toEqual([{ kind, name }]);
    await eventually(async () => (await count()) === 1);
    expect(await all()).toEqual([name]);

    subscriptions.onMembership(kind, name, false);
    expect(subscriptions.size).toBe(0);
    await eventually(async () => (await listeners(channel)) === 0);
    await eventually(async () => (await count()) === 0);
    expect(await all()).toEqual([]);
    expect(failures).toEqual([]);
  });

  it('a repeated first-member event subscribes once; the host count stays per node', async () => {
    subscriptions.onMembership('uid', 'u', true);
    subscriptions.onMembership('uid', 'u', true);
    await subscriptions.ready('uid', 'u');
    expect(subscriptions.size).toBe(1);
    expect(await listeners(parts.keys.uidChannel('u'))).toBe(1);
    await eventually(async () => (await parts.directory.countUids()) === 1);
  });

  it('ready() resolves at once for a route that is not subscribed', async () => {
    await expect(subscriptions.ready('group', 'never')).resolves.toBeUndefined();
  });

  it('reports a failed host write to onFailure (the resync then runs)', async () => {
    await redis.stop();
    try {
      subscriptions.onMembership('group', 'g', true);
      await eventually(() => failures.length > 0);
      expect(failures).toContain('host g:g');
    } finally {
      await redis.restart();
    }
  });
});

import { EventEmitter } from 'node:events';
import { Cluster } from 'ioredis';
import { redisKeySlot } from '../libs/push/src/engine/redis/redis-key-slot';
import { RedisShardListener } from '../libs/push/src/engine/redis/redis-shard-listener';
import { RedisCluster } from './support/redis-cluster';

/*
 * Our sharded-pub/sub listener on a real 3-master Redis Cluster: deliveries from every master, a master SIGKILLed
 * (the others keep delivering, the dead one is retried with a backoff instead of ioredis's spin), and the master
 * restarted empty (its channels are subscribed again with no call of ours, and onReady fires).
 */

jest.setTimeout(60_000);

const DEAD = 1;

/** A channel name starting with `base` whose slot is on master `master`. */
function nameOn(cluster: RedisCluster, master: number, base: string): string {
  for (let i = 0; i < 100_000; i++) if (cluster.masterOf(`${base}${i}`) === master) return `${base}${i}`;
  throw new Error(`no name for master ${master}`);
}

/** Retries `attempt` on each turn of a short pause until it returns true, bounded by `ms`. */
async function until(attempt: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await attempt())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('RedisShardListener on a 3-master Redis Cluster', () => {
  let cluster: RedisCluster;
  let cmd: Cluster;
  let pub: Cluster;
  let listener: RedisShardListener;
  const messages = new EventEmitter();
  const received = new Map<string, string[]>();
  const errors: Error[] = [];
  let readyAgain = 0;
  let channels: string[];
  let lateChannel: string;
  let lateSubscribed: Promise<unknown>;
  let deadKey: string;

  /** The next message on `channel` (listen before publishing), or a rejection after `ms`. */
  const next = (channel: string, ms = 5_000) =>
    new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        messages.off(channel, on);
        reject(new Error(`no message on ${channel} within ${ms} ms`));
      }, ms);
      const on = (payload: string) => {
        clearTimeout(timer);
        messages.off(channel, on);
        resolve(payload);
      };
      messages.on(channel, on);
    });

  beforeAll(async () => {
    cluster = await RedisCluster.start({ masters: 3 });
    cmd = new Cluster(cluster.nodes, { lazyConnect: true });
    pub = new Cluster(cluster.nodes);
    listener = new RedisShardListener(cmd);
    listener.onMessage((channel, payload) => {
      expect(Buffer.isBuffer(payload)).toBe(true);
      received.set(channel, [...(received.get(channel) ?? []), payload.toString()]);
      messages.emit(channel, payload.toString());
    });
    listener.onError((error) => errors.push(error));
    listener.onReady(() => readyAgain++);
    channels = [0, 1, 2].map((master) => nameOn(cluster, master, 'shard-ch-'));
    deadKey = `${cluster.nodes[DEAD].host}:${cluster.nodes[DEAD].port}`;
  });
  afterAll(async () => {
    listener?.close();
    cmd?.disconnect();
    pub?.disconnect();
    await cluster?.close();
  });

  it('opens one subscriber connection per master and delivers SPUBLISH on every master', async () => {
    expect(listener.ready).toBe(false);
    await listener.connect();
    await listener.whenReady(5_000);
    expect(listener.ready).toBe(true);
    expect(listener.publishCommand).toBe('SPUBLISH');
    expect([...listener.connections.keys()].sort()).toEqual(cluster.startupNodes.slice().sort());

    // One call over channels of different slots and masters: split per slot, never refused as CROSSSLOT.
    await listener.subscribe(channels);
    for (const [master, channel] of channels.entries()) {
      const message = next(channel);
      expect(await pub.spublish(channel, `to ${master}`)).toBe(1);
      expect(await message).toBe(`to ${master}`);
    }
    expect(errors).toEqual([]);
    expect(readyAgain).toBe(0);
  });

  it('routes by the slot Redis computes (hash tags, UTF-8)', async () => {
    for (const key of ['foo', 'push:{u:alice}m', 'a{}b', '{}', 'x{y}z{w}', '{{a}}', 'ü€😀', '', ...channels]) {
      expect([key, redisKeySlot(key)]).toEqual([key, await pub.cluster('KEYSLOT', key)]);
    }
  });

  it('unsubscribes: the master then counts no subscriber on that channel', async () => {
    const channel = nameOn(cluster, 2, 'shard-gone-');
    await listener.subscribe([channel]);
    expect(await pub.spublish(channel, 'x')).toBe(1);
    await listener.unsubscribe([channel]);
    expect(await pub.spublish(channel, 'y')).toBe(0);
  });

  it('when a master is SIGKILLed: the others still deliver, and the dead one is retried with a backoff', async () => {
    const dead = listener.connections.get(deadKey)!;
    const attempts: { delay: number; at: number }[] = [];
    dead.on('reconnecting', (delay: number) => attempts.push({ delay, at: Date.now() }));
    const lostAt = Date.now();
    await cluster.stopMaster(DEAD);
    await until(async () => !listener.ready, 5_000, 'the listener to see the loss');

    for (const master of [0, 2]) {
      const message = next(channels[master]);
      expect(await pub.spublish(channels[master], `during ${master}`)).toBe(1);
      expect(await message).toBe(`during ${master}`);
    }
    // A SSUBSCRIBE made during the outage waits in the dead master's queue (checked after the restart).
    lateChannel = nameOn(cluster, DEAD, 'shard-late-');
    lateSubscribed = listener.subscribe([lateChannel]);
    lateSubscribed.catch(() => undefined);

    await until(async () => attempts.length >= 10, 15_000, 'ten reconnect attempts');
    // The delays follow the backoff (50 ms more each time), so attempts cannot spin: ioredis's shardedSubscribers
    // made 60-140 per second here.
    expect(attempts.slice(0, 10).map((a) => a.delay)).toEqual([50, 100, 150, 200, 250, 300, 350, 400, 450, 500]);
    expect(attempts.filter((a) => a.at - lostAt <= 2_000).length).toBeLessThan(30);
    expect(errors.length).toBeGreaterThan(0); // each failed attempt is reported
    expect(listener.ready).toBe(false);
    await expect(listener.whenReady(50)).rejects.toThrow('not ready');
  });

  it('after the restart, the dead master\'s channels are subscribed again with no call, and onReady fires', async () => {
    const readyBefore = readyAgain;
    await cluster.restartMaster(DEAD, { waitForCluster: false });
    await until(async () => {
      const message = next(channels[DEAD], 200).catch(() => null);
      await pub.spublish(channels[DEAD], 'back').catch(() => 0);
      return (await message) === 'back';
    }, 20_000, 'deliveries on the restarted master');
    await listener.whenReady(5_000);
    expect(readyAgain).toBe(readyBefore + 1);
    // The SSUBSCRIBE made during the outage went through once the master was back.
    await lateSubscribed;
    const late = next(lateChannel);
    expect(await pub.spublish(lateChannel, 'late')).toBe(1);
    expect(await late).toBe('late');
    // Exactly one subscription per channel: the re-SSUBSCRIBE did not duplicate deliveries.
    for (const master of [0, 2]) expect(received.get(channels[master])).toEqual([`to ${master}`, `during ${master}`]);
  });

  it('close() ends every connection and clears its waiters', async () => {
    const connections = [...listener.connections.values()];
    listener.close();
    await until(async () => connections.every((redis) => redis.status === 'end'), 5_000, 'every connection to end');
    expect(listener.ready).toBe(false);
    await expect(listener.whenReady(10_000)).rejects.toThrow('closed');
  });
});

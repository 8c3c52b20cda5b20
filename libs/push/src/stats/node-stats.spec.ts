import { Test } from '@nestjs/testing';
import { MemoryEngine } from '../engine/memory.engine';
import { PushEngineUnavailableError } from '../errors/push.errors';
import { createClientId } from '../identity/client-id';
import { LocalConnection } from '../local/local-connection';
import { LocalRegistry } from '../local/local-registry';
import { EncodedMessage } from '../message/encoded-message';
import { PushMetrics } from '../push-metrics.service';
import { PushModule } from '../push.module';
import { PushService } from '../push.service';
import { openSocketPairs, SocketPairs } from '../test-support/socket-pair';
import type { NodeStats } from './node-stats.interface';
import { parseNodeStats, takeNodeStats } from './node-stats';
import { NodeStatsPublisher } from './node-stats.publisher';

/** Resolves once `check` holds, polling on each macrotask turn (state with no event: a TTL passing). */
async function until(check: () => boolean | Promise<boolean>, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const emptyRegistry = () => new LocalRegistry({ maxBufferedBytes: 1 }, new PushMetrics());

describe('node stats', () => {
  let sockets: SocketPairs | undefined;
  afterEach(async () => {
    await sockets?.close();
    sockets = undefined;
  });

  describe('takeNodeStats / parseNodeStats', () => {
    it('reads the gauges from the registry and the counters from the metrics', async () => {
      const metrics = new PushMetrics();
      const registry = new LocalRegistry({ maxBufferedBytes: 1024 * 1024 }, metrics);
      const engine = new MemoryEngine();
      await engine.init({ registry, metrics });
      sockets = await openSocketPairs(3);
      const conns = sockets.pairs.map((pair) => new LocalConnection(createClientId(engine.nodeId), pair.server));
      for (const conn of conns) await engine.register(conn);
      await engine.bindUid(conns[0].id, 'ann');
      await engine.bindUid(conns[1].id, 'ann');
      await engine.joinGroup(conns[2].id, 'room');
      expect(await engine.sendToAll(EncodedMessage.encode('hi'), null)).toEqual({ delivered: 3, held: 0 });
      metrics.rejectedUpgrades.origin = 2;
      metrics.rejectedUpgrades.capacity = 1;
      metrics.limitRefusals.session = 4;
      metrics.slowConsumerDrops = 5;
      metrics.heartbeatTimeouts = 6;

      const before = Date.now();
      const stats = takeNodeStats(engine.nodeId, 1000, registry, metrics, 7);
      expect(stats).toEqual({
        nodeId: engine.nodeId,
        time: expect.any(Number),
        interval: 1000,
        connections: 3,
        uids: 1,
        groups: 1,
        connectionsOpened: metrics.connectionsOpened,
        connectionsClosed: 0,
        framesDelivered: 3,
        slowConsumerDrops: 5,
        heartbeatTimeouts: 6,
        rejectedUpgrades: 3,
        payloadTooLarge: 0,
        badFrames: 0,
        limitRefusals: 4,
        engineResyncs: 0,
        subscriberResets: 0,
        publishFailures: 7,
      });
      expect(stats.time).toBeGreaterThanOrEqual(before);
      expect(stats.time).toBeLessThanOrEqual(Date.now());
      // The small snapshot the README's cost table promises.
      expect(Buffer.byteLength(JSON.stringify(stats))).toBeLessThan(450);
    });

    it('parses what a node published and refuses what is not a snapshot', () => {
      const stats = takeNodeStats('0123456789abcdef', 500, emptyRegistry(), new PushMetrics(), 0);
      expect(parseNodeStats(JSON.stringify(stats))).toEqual(stats);
      // A newer node's extra fields are dropped, not passed on.
      expect(parseNodeStats(JSON.stringify({ ...stats, cpu: 0.5 }))).toEqual(stats);
      for (const bad of [
        'not json',
        'null',
        '[]',
        JSON.stringify({ ...stats, nodeId: 'NOT-A-NODE-ID' }),
        JSON.stringify({ ...stats, connections: -1 }),
        JSON.stringify({ ...stats, framesDelivered: '3' }),
        JSON.stringify({ ...stats, time: undefined }),
      ]) {
        expect(parseNodeStats(bad)).toBeNull();
      }
    });
  });

  describe('MemoryEngine: this node only', () => {
    const sample = (nodeId: string, connections: number): NodeStats => ({
      ...takeNodeStats(nodeId, 100, emptyRegistry(), new PushMetrics(), 0),
      connections,
    });

    it('returns the latest snapshot until its ttl passes, and nothing after close', async () => {
      const engine = new MemoryEngine();
      await engine.init({ registry: emptyRegistry(), metrics: new PushMetrics() });
      expect(await engine.getClusterStats()).toEqual([]);

      await engine.publishNodeStats(sample(engine.nodeId, 1), 60_000);
      await engine.publishNodeStats(sample(engine.nodeId, 2), 60_000);
      const [latest, ...rest] = await engine.getClusterStats();
      expect(rest).toEqual([]);
      expect(latest).toMatchObject({ nodeId: engine.nodeId, connections: 2 });
      // A copy: the caller cannot change what the next reader sees.
      latest.connections = 99;
      expect((await engine.getClusterStats())[0].connections).toBe(2);

      await engine.close();
      expect(await engine.getClusterStats()).toEqual([]);

      // A node that stops publishing (no close) disappears once its snapshot's ttl has passed.
      const other = new MemoryEngine();
      await other.publishNodeStats(sample(other.nodeId, 1), 30);
      expect(await other.getClusterStats()).toHaveLength(1);
      await until(async () => (await other.getClusterStats()).length === 0);
    });
  });

  describe('NodeStatsPublisher in the module', () => {
    async function start(options: Parameters<typeof PushModule.forRoot>[0]) {
      const moduleRef = await Test.createTestingModule({ imports: [PushModule.forRoot(options)] }).compile();
      const app = moduleRef.createNestApplication({ logger: false });
      await app.init();
      return { app, push: app.get(PushService), publisher: app.get(NodeStatsPublisher) };
    }

    it('publishes at start and every interval; getClusterStats shows this node; stops at shutdown', async () => {
      const { app, push, publisher } = await start({ gateway: false, nodeStatsInterval: 20 });
      try {
        // Published once at start, before the first interval.
        const [first] = await push.getClusterStats();
        expect(first).toMatchObject({ nodeId: push.nodeId, interval: 20, connections: 0, publishFailures: 0 });
        // Then again, with a later time.
        await until(async () => ((await push.getClusterStats())[0]?.time ?? 0) > first.time);
        expect(publisher.published).toBeGreaterThanOrEqual(2);
        expect(publisher.publishFailures).toBe(0);
      } finally {
        await app.close();
      }
      const published = publisher.published;
      expect(await push.getClusterStats()).toEqual([]);
      // No timer survives the shutdown.
      await new Promise((resolve) => setTimeout(resolve, 60));
      expect(publisher.published).toBe(published);
    });

    it('counts a failed publish instead of throwing, and reports the count once publishing works again', async () => {
      class FlakyEngine extends MemoryEngine {
        down = true;
        override async publishNodeStats(stats: NodeStats, ttl: number): Promise<void> {
          if (this.down) throw new PushEngineUnavailableError('backend down');
          return super.publishNodeStats(stats, ttl);
        }
      }
      const engine = new FlakyEngine();
      const { app, push, publisher } = await start({ gateway: false, engine, nodeStatsInterval: 10 });
      try {
        await until(() => publisher.publishFailures >= 2);
        expect(await push.getClusterStats()).toEqual([]);
        engine.down = false;
        await until(async () => (await push.getClusterStats()).length === 1);
        const [stats] = await push.getClusterStats();
        expect(stats.publishFailures).toBeGreaterThanOrEqual(2);
        expect(stats.publishFailures).toBeLessThanOrEqual(publisher.publishFailures);
      } finally {
        await app.close();
      }
    });

    it('publishes nothing with nodeStatsInterval: false', async () => {
      const { app, push, publisher } = await start({ gateway: false, nodeStatsInterval: false });
      try {
        expect(publisher.interval).toBe(false);
        expect(publisher.published).toBe(0);
        expect(await push.getClusterStats()).toEqual([]);
        // The snapshot is still there for whoever wants this node's numbers.
        expect(publisher.snapshot()).toMatchObject({ nodeId: push.nodeId, interval: 0 });
      } finally {
        await app.close();
      }
    });
  });
});

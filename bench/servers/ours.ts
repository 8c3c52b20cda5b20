/**
 * Our module under load: a minimal Nest app that imports `PushModule.forRoot(...)` with `PushWsAdapter`, driven
 * through the bench control channel (see `control.ts`). Every operation goes through the public `PushService`:
 * `bindAll` calls `bindUid` + `joinGroup`, `send` calls `sendToGroup`.
 *
 *   node ours.js [--engine=memory|redis] [--redis=redis://127.0.0.1:PORT | --redis-cluster=HOST:PORT,HOST:PORT,…]
 *                [--prefix=bench:] [--gateway=on|off] [--options=<JSON of extra PushModule options>]
 *
 * `--redis-cluster` puts the Redis engine on a Redis Cluster (its startup nodes; sharded pub/sub) instead of the
 * one redis-server of `--redis`.
 *
 * Heartbeat pings are moved out of the measuring windows (interval 10 min), like socket.io's in its server.
 */
import { Module, type DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { PushEvents, PushModule, PushService, PushWsAdapter, type PushModuleOptions } from '../../libs/push/src';
import { benchMessage, groupsOf, nowMs, parseArgs, pool, spreadGroupFor } from '../lib/common';
import { announceReady, startControl } from './control';
import { guardChild } from '../lib/ipc';

guardChild();

@Module({})
class BenchModule {
  static forRoot(options: Parameters<typeof PushModule.forRoot>[0]): DynamicModule {
    return { module: BenchModule, imports: [PushModule.forRoot(options)] };
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const gateway = (args.gateway ?? 'on') !== 'off';
  const prefix = args.prefix ?? 'bench:';
  if (args['redis-cluster'] && args.redis) throw new Error('ours: give --redis or --redis-cluster, not both');
  const engine: PushModuleOptions['engine'] =
    (args.engine ?? 'memory') !== 'redis'
      ? { type: 'memory' }
      : args['redis-cluster']
        ? { type: 'redis', cluster: args['redis-cluster'].split(','), prefix }
        : { type: 'redis', url: args.redis, prefix };
  // Extra module options to compare settings (`npm run bench -- --ours-options='{"fanoutChunk":1024}'`).
  const extra = args.options ? (JSON.parse(args.options) as PushModuleOptions) : {};
  const app = await NestFactory.create<NestExpressApplication>(
    BenchModule.forRoot({
      engine,
      gateway,
      heartbeat: { interval: 600_000, timeout: 1_200_000 },
      // The load generators open thousands of sockets from each of a few loopback addresses.
      maxConnectionsPerAddress: Infinity,
      ...extra,
    }),
    { logger: ['error', 'warn'] },
  );
  app.useWebSocketAdapter(new PushWsAdapter(app));
  await app.listen(0, '127.0.0.1');
  const push = app.get(PushService);
  const events = app.get(PushEvents);

  // client_id → uid asked for in the upgrade URL (`/ws?uid=u12`), bound on `bindAll`.
  const wanted = new Map<string, string>();
  events.connect$.subscribe((event) => {
    wanted.set(event.clientId, event.query.uid ?? '');
  });
  events.close$.subscribe((event) => {
    wanted.delete(event.clientId);
  });

  startControl(gateway ? 'ours' : 'ours (push-only)', {
    clients: () => wanted.size,
    bindAll: async ({ concurrency = 64, spreadGroups = 0 }) => {
      const entries = [...wanted].filter(([, uid]) => uid);
      await pool(entries, concurrency, async ([clientId, uid]) => {
        await push.bindUid(clientId, uid);
        for (const group of groupsOf(uid)) await push.joinGroup(clientId, group);
        if (spreadGroups > 0) await push.joinGroup(clientId, spreadGroupFor(uid, spreadGroups));
      });
      return entries.length;
    },
    groupCount: ({ group }) => push.getClientIdCountByGroup(group),
    send: async ({ group, groups, count, bytes }) => {
      const t0 = nowMs();
      const sends: Promise<number>[] = [];
      const targets = groups?.length ? groups : [group];
      // Round `seq` goes to every target group, so each client still gets seq 0…count-1 in order.
      for (let seq = 0; seq < count; seq++) {
        for (const target of targets) sends.push(push.sendToGroup(target, benchMessage(seq, nowMs(), bytes)));
      }
      const delivered = (await Promise.all(sends)).reduce((a, b) => a + b, 0);
      return { t0, issuedMs: nowMs() - t0, delivered };
    },
  });
  const address = app.getHttpServer().address() as { port: number };
  announceReady(address.port);
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

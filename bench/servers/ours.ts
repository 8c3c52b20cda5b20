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
 * Heartbeat pings are moved out of the measuring windows (interval 10 min), like socket.io's in its server. With
 * resume on (the module's default), the module's default `resume.history.maxAge` follows: `resume.window` + that
 * heartbeat's timeout and interval (a history's age bound only; counts and bytes still bound it).
 *
 * SIGTERM stops it gracefully (`app.close()`, then exit 0): on the Redis engine with resume on, its resumable clients
 * are closed with 1012 and resume on another node (the resume storm).
 *
 * Resume-storm commands besides the common ones: `bindAll {stormGroups: G}` binds each client to its uid and ONE group
 * (`storm-<uid number mod G>`); `resumeStats` (resumes this node saw, and the module's resume metrics); on the
 * push-only node, `streamStart {rate, uids, groups, groupShare}` pushes `rate` messages a second (open loop) to random
 * uids and storm groups, each target numbering its messages 1, 2, 3…, and `streamStop` says what was sent and what the
 * module accepted (`delivered + held > 0`); `profileStart` / `profileStop {path}` record a V8 CPU profile of this
 * process (the storm's `--storm-profile`); `counters`: frames written so far (every frame to a socket: pushes, replays,
 * welcomes), messages replayed and resumes.
 */
import { writeFileSync } from 'node:fs';
import { Session as InspectorSession } from 'node:inspector';
import { performance } from 'node:perf_hooks';
import { ConsoleLogger, Module, type DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { PushEvents, PushModule, PushService, PushWsAdapter, type PushModuleOptions } from '../../libs/push/src';
import { benchMessage, groupsOf, nowMs, parseArgs, pool, spreadGroupFor, stormGroupFor, stormGroupOf, type StormMessage, type StreamResult } from '../lib/common';
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
  const heartbeat = { interval: 600_000, timeout: 1_200_000 };
  const logger = new CountingLogger();
  const app = await NestFactory.create<NestExpressApplication>(
    BenchModule.forRoot({
      engine,
      gateway,
      heartbeat,
      // The load generators open thousands of sockets from each of a few loopback addresses.
      maxConnectionsPerAddress: Infinity,
      ...extra,
      resume: benchResume(extra),
    }),
    { logger },
  );
  app.useWebSocketAdapter(new PushWsAdapter(app));
  await app.listen(0, '127.0.0.1');
  const push = app.get(PushService);
  const events = app.get(PushEvents);

  // SIGTERM: a graceful stop (the resume storm's restart), then exit.
  process.once('SIGTERM', () => {
    const t = nowMs();
    app.close().then(
      () => {
        console.error(`ours: closed gracefully in ${(nowMs() - t).toFixed(0)} ms`);
        process.exit(0);
      },
      (error: unknown) => {
        console.error(`ours: graceful close failed: ${(error as Error)?.stack ?? String(error)}`);
        process.exit(1);
      },
    );
  });

  // client_id → uid asked for in the upgrade URL (`/ws?uid=u12`), bound on `bindAll`.
  const wanted = new Map<string, string>();
  events.connect$.subscribe((event) => {
    wanted.set(event.clientId, event.query.uid ?? '');
  });
  events.close$.subscribe((event) => {
    wanted.delete(event.clientId);
  });
  // A connection resumed here: its client_id is new when it came from another node.
  const resumes = { resumed: 0, notRecovered: 0, moved: 0 };
  events.resume$.subscribe((event) => {
    resumes.resumed++;
    if (!event.recovered) resumes.notRecovered++;
    if (event.previousClientId !== event.clientId) {
      resumes.moved++;
      wanted.delete(event.previousClientId);
    }
    wanted.set(event.clientId, event.uid ?? '');
  });
  const stream = new Stream(push);
  const profiler = new Profiler();

  startControl(gateway ? 'ours' : 'ours (push-only)', {
    clients: () => wanted.size,
    bindAll: async ({ concurrency = 64, spreadGroups = 0, stormGroups = 0 }) => {
      const entries = [...wanted].filter(([, uid]) => uid);
      await pool(entries, concurrency, async ([clientId, uid]) => {
        await push.bindUid(clientId, uid);
        // The resume storm: its uid and one group only.
        if (stormGroups > 0) return push.joinGroup(clientId, stormGroupFor(uid, stormGroups));
        for (const group of groupsOf(uid)) await push.joinGroup(clientId, group);
        if (spreadGroups > 0) await push.joinGroup(clientId, spreadGroupFor(uid, spreadGroups));
      });
      return entries.length;
    },
    counters: () => {
      const m = push.getMetrics();
      return { framesDelivered: m.framesDelivered, replayedMessages: m.resumes.replayedMessages, resumes: m.resumes.succeeded };
    },
    resumeStats: () => ({ ...resumes, clients: wanted.size, metrics: push.getMetrics().resumes, warnings: Object.fromEntries(logger.warnings) }),
    streamStart: (args: StreamArgs) => stream.start(args),
    profileStart: () => profiler.start(),
    profileStop: ({ path }: { path: string }) => profiler.stop(path),
    streamStop: () => stream.stop(),
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

/**
 * Nest's console logger (errors and warnings only, as before), which also counts the warnings by their text with ids
 * blanked out: why resumes were deferred (1013) shows in the resume storm's results.
 */
class CountingLogger extends ConsoleLogger {
  readonly warnings = new Map<string, number>();

  constructor() {
    super();
    this.setLogLevels(['error', 'warn']);
  }

  override warn(message: unknown, ...rest: unknown[]): void {
    const key = String(message).replace(/[0-9A-Za-z_-]{16,}/g, '<id>').slice(0, 200);
    this.warnings.set(key, (this.warnings.get(key) ?? 0) + 1);
    super.warn(message, ...(rest as [string]));
  }
}

/** A V8 CPU profile of this process (`--storm-profile`): started and stopped on command, written as a .cpuprofile. */
class Profiler {
  private session: InspectorSession | null = null;

  private post(method: string, params?: object): Promise<any> {
    return new Promise((resolve, reject) =>
      this.session!.post(method, params, (error, result) => (error ? reject(error) : resolve(result))),
    );
  }

  async start(): Promise<null> {
    if (this.session) throw new Error('a profile is already running');
    this.session = new InspectorSession();
    this.session.connect();
    await this.post('Profiler.enable');
    await this.post('Profiler.setSamplingInterval', { interval: 200 });
    await this.post('Profiler.start');
    return null;
  }

  async stop(path: string): Promise<{ path: string }> {
    if (!this.session) throw new Error('no profile is running');
    const { profile } = (await this.post('Profiler.stop')) as { profile: unknown };
    this.session.disconnect();
    this.session = null;
    writeFileSync(path, JSON.stringify(profile));
    return { path };
  }
}

/**
 * The bench's resume options: the user's (`--options`). The module raises `history.maxAge` by default to what the
 * window and the bench's long heartbeat need.
 */
function benchResume(extra: PushModuleOptions): PushModuleOptions['resume'] {
  return extra.resume;
}

interface StreamArgs {
  /** Messages a second. */
  rate: number;
  /** Uids u0…u(uids-1). */
  uids: number;
  /** Storm groups storm-0…storm-(groups-1). */
  groups: number;
  /** Share of the messages sent to a group (the rest to a uid). */
  groupShare: number;
}

/**
 * The resume storm's sender: open loop (each message leaves on schedule whatever the earlier ones are doing), each to
 * a random uid or storm group, numbered per target. A message counts as accepted when its send resolved with
 * `delivered + held > 0`: then it must reach its target's clients, once, in order.
 */
class Stream {
  private ticker: NodeJS.Timeout | null = null;
  private readonly inFlight = new Set<Promise<void>>();
  /** Last number given per target. */
  private readonly last = new Map<string, number>();
  /** Numbers per target whose send failed or reached nobody (must not be expected by the clients). */
  private readonly rejected = new Map<string, number[]>();
  private readonly samples: string[] = [];
  private sent = 0;
  private accepted = 0;
  private delivered = 0;
  private held = 0;
  private heldMessages = 0;
  private maxMs = 0;
  private startedAt = 0;

  constructor(private readonly push: PushService) {}

  start({ rate, uids, groups, groupShare }: StreamArgs): null {
    if (this.ticker) throw new Error('the stream is already running');
    this.startedAt = performance.now();
    let issued = 0;
    this.ticker = setInterval(() => {
      const due = Math.floor(((performance.now() - this.startedAt) * rate) / 1000);
      while (issued < due) {
        issued++;
        const group = Math.random() < groupShare;
        const to = group ? stormGroupOf(Math.floor(Math.random() * groups)) : `u${Math.floor(Math.random() * uids)}`;
        this.send(group, to);
      }
    }, 1);
    return null;
  }

  private send(group: boolean, to: string): void {
    const seq = (this.last.get(to) ?? 0) + 1;
    this.last.set(to, seq);
    this.sent++;
    const t = nowMs();
    const message: StormMessage = { to, seq, t };
    const reject = (why: string) => {
      let list = this.rejected.get(to);
      if (!list) this.rejected.set(to, (list = []));
      list.push(seq);
      if (this.samples.length < 10) this.samples.push(`${to}#${seq}: ${why}`);
    };
    const done = this.push.send(group ? { group: to } : { uid: to }, message).then(
      (result) => {
        this.maxMs = Math.max(this.maxMs, nowMs() - t);
        this.delivered += result.delivered;
        this.held += result.held;
        if (result.held > 0) this.heldMessages++;
        if (result.delivered + result.held > 0) this.accepted++;
        else reject('delivered 0, held 0');
      },
      (error: unknown) => reject((error as Error)?.message ?? String(error)),
    );
    this.inFlight.add(done);
    void done.finally(() => this.inFlight.delete(done));
  }

  async stop(): Promise<StreamResult> {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = null;
    const seconds = (performance.now() - this.startedAt) / 1000;
    await Promise.all([...this.inFlight]);
    return {
      sent: this.sent,
      accepted: this.accepted,
      delivered: this.delivered,
      held: this.held,
      heldMessages: this.heldMessages,
      maxSendMs: this.maxMs,
      seconds,
      last: Object.fromEntries(this.last),
      rejected: Object.fromEntries(this.rejected),
      samples: this.samples,
    };
  }
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

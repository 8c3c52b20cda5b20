/**
 * HTTP push: N idle clients, each bound to its own uid; a sender process POSTs `/send {uid, message}` to single
 * uids at fixed rates (open loop, keep-alive agent), stepping the rate up and stopping at the first step not
 * held. The clients measure POST→delivery from the send time the sender put in the message.
 *
 * Ours is the real example app (`createApp` + `loadConfig`: signed-cookie login guard, body parsers, the real
 * controllers), once on Express (`ours`) and once on Fastify (`ours-fastify`), each its own server process; its
 * clients are bound through the real `POST /login` + `POST /bind`, like a page, and the sender logs in once. The references (bare `node:http` + ws with a Map uid → sockets; socket.io with a room
 * per uid) bind through the control channel (binding is setup, not measured).
 */
import { percentile, sleep } from '../lib/common';
import type { Peer } from '../lib/ipc';
import type { MeasureResult } from '../servers/control';
import { connectClients, loadgensFor, Session, waitClients, type Loadgen, type Server } from '../lib/session';
import { appServerArgs, type BenchConfig, type HttpKind } from './config';
import { wsUrlOf } from './fanout';

export interface HttpStep {
  rate: number;
  seconds: number;
  issued: number;
  ok: number;
  errors: number;
  undelivered: number;
  deliveredSum: number;
  received: number;
  achievedRate: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  httpP50Ms: number;
  httpP99Ms: number;
  cpuUsPerRequest: number;
  /** The sender's own CPU per request: on one machine, server + sender + clients share the cores. */
  senderCpuUsPerRequest: number;
  maxIssueLagMs: number;
  held: boolean;
  reason: string;
  errorSamples: string[];
}

export interface HttpFigures {
  /** Cores other processes of the machine used during the session (≈0 on a quiet machine). */
  foreignCores: number;
  bind: 'POST /login + POST /bind' | 'control channel';
  setupMs: number;
  steps: HttpStep[];
  maxHeldRate: number;
  headline: { p50Ms: number; p99Ms: number; cpuUsPerRequest: number; maxHeldRate: number; cpuUsPerRequestAtMax: number };
}

interface SenderStep {
  /** CPU the sender itself used during the step, µs. */
  cpuUs: number;
  rate: number;
  seconds: number;
  issued: number;
  answered: number;
  ok: number;
  errors: number;
  undelivered: number;
  deliveredSum: number;
  achievedRate: number;
  maxIssueLagMs: number;
  httpP50Ms: number;
  httpP99Ms: number;
  errorSamples: string[];
}

let token = 1_000_000;

async function step(
  config: BenchConfig,
  server: Server,
  sender: Peer,
  loadgens: Loadgen[],
  baseUrl: string,
  rate: number,
  seconds: number,
): Promise<HttpStep> {
  const mine = ++token;
  await Promise.all(loadgens.map((lg) => lg.peer.request('expect', { perClient: 0, latency: true, token: mine })));
  await server.peer.request('measureStart', { stall: false });
  const r = await sender.request<SenderStep>('step', { baseUrl, rate, seconds, uidCount: config.n, bytes: config.bytes }, (seconds + 30) * 1000);
  // Wait (bounded) for every message the server says it delivered to reach its client.
  let received = 0;
  const deadline = Date.now() + 10_000;
  for (;;) {
    const status = await Promise.all(loadgens.map((lg) => lg.peer.request<{ total: number }>('status')));
    received = status.reduce((sum, s) => sum + s.total, 0);
    if (received >= r.deliveredSum || Date.now() > deadline) break;
    await sleep(50);
  }
  const m = await server.peer.request<MeasureResult>('measureStop');
  const collected = await Promise.all(loadgens.map((lg) => lg.peer.request<{ latencies: number[] }>('collect')));
  const lat = collected.flatMap((c) => c.latencies).sort((a, b) => a - b);
  const p99 = percentile(lat, 99);
  let reason = '';
  if (r.errors > 0) reason = `${r.errors} error(s), e.g. ${r.errorSamples[0] ?? '?'}`;
  else if (received < r.deliveredSum) reason = `${r.deliveredSum - received} deliveries missing after 10 s`;
  else if (r.achievedRate < 0.95 * rate) reason = `only ${Math.round(r.achievedRate)} req/s answered`;
  else if (!(p99 <= config.p99LimitMs)) reason = `p99 ${p99.toFixed(0)} ms > ${config.p99LimitMs} ms`;
  return {
    rate,
    seconds,
    issued: r.issued,
    ok: r.ok,
    errors: r.errors,
    undelivered: r.undelivered,
    deliveredSum: r.deliveredSum,
    received,
    achievedRate: r.achievedRate,
    p50Ms: percentile(lat, 50),
    p99Ms: p99,
    maxMs: lat.length ? lat[lat.length - 1] : NaN,
    httpP50Ms: r.httpP50Ms,
    httpP99Ms: r.httpP99Ms,
    cpuUsPerRequest: r.ok ? (m.cpuUserUs + m.cpuSystemUs) / r.ok : NaN,
    senderCpuUsPerRequest: r.ok ? r.cpuUs / r.ok : NaN,
    maxIssueLagMs: r.maxIssueLagMs,
    held: reason === '',
    reason,
    errorSamples: r.errorSamples,
  };
}

export async function runHttp(config: BenchConfig, kind: HttpKind): Promise<HttpFigures> {
  const { n } = config;
  const session = new Session(config.verbose);
  const appArgs = appServerArgs(kind);
  const app = appArgs !== null;
  try {
    const setupStart = Date.now();
    const server = app ? await session.startServer('app', kind, appArgs) : await session.startServer(kind as 'ws' | 'socketio', kind);
    const clientKind = kind === 'ws' || kind === 'socketio' ? kind : 'ours';
    const baseUrl = `http://127.0.0.1:${server.port}`;
    const loadgens = await session.startLoadgens(loadgensFor(n));
    await connectClients(loadgens, clientKind, [{ url: wsUrlOf(clientKind, server.port), count: n }]);
    await waitClients(server, n);
    if (app) {
      await Promise.all(loadgens.map((lg) => lg.peer.request('httpBind', { baseUrl, concurrency: 32 }, 60_000 + n * 20)));
      const uids = await server.peer.request<number>('uidCount');
      if (uids !== n) throw new Error(`app: ${uids} uids bound after POST /bind, expected ${n}`);
    } else {
      const bound = await server.peer.request<number>('bindAll', {}, 60_000);
      if (bound !== n) throw new Error(`${kind}: bindAll bound ${bound} of ${n}`);
    }
    const sender = await session.startSender();
    if (app) await sender.request('login', { baseUrl, uid: 'bench-sender' });
    const setupMs = Date.now() - setupStart;

    // Warm-up (not reported): JIT, keep-alive sockets, first-request paths.
    const warm = await step(config, server, sender, loadgens, baseUrl, 200, 1);
    if (warm.errors || warm.received < warm.deliveredSum) throw new Error(`warm-up at 200 req/s failed: ${warm.reason}`);

    const steps: HttpStep[] = [];
    // A step that fails is tried once more: on a shared 2-core machine one GC pause or a burst of other activity can
    // push a 3-second step's p99 over the limit, and a single miss would end the search for good.
    const run = async (rate: number) => {
      for (let attempt = 0; attempt < 2; attempt++) {
        const result = await step(config, server, sender, loadgens, baseUrl, rate, config.stepSeconds);
        steps.push(result);
        if (result.held) return true;
      }
      return false;
    };
    let held = 0;
    let failed = 0;
    for (const rate of config.httpRates) {
      if (!(await run(rate))) {
        failed = rate;
        break;
      }
      held = rate;
    }
    // The steps double, which makes the rate held coarse (a ratio of 0.5 or 1): bisect between the last step held
    // and the first one not held, to the nearest 100 req/s.
    for (let i = 0; failed && i < config.httpBisect; i++) {
      const rate = Math.round((held + failed) / 2 / 100) * 100;
      if (rate <= held || rate >= failed) break;
      if (await run(rate)) held = rate;
      else failed = rate;
    }
    const maxHeldRate = held;
    const top = steps.find((s) => s.held && s.rate === held);
    const headline = steps.find((s) => s.rate === config.headlineRate);
    return {
      foreignCores: session.foreignCores(),
      bind: app ? 'POST /login + POST /bind' : 'control channel',
      setupMs,
      steps,
      maxHeldRate,
      headline: {
        p50Ms: headline?.p50Ms ?? NaN,
        p99Ms: headline?.p99Ms ?? NaN,
        cpuUsPerRequest: headline?.cpuUsPerRequest ?? NaN,
        maxHeldRate,
        cpuUsPerRequestAtMax: top?.cpuUsPerRequest ?? NaN,
      },
    };
  } catch (error) {
    throw session.explain(error);
  } finally {
    await session.close();
  }
}

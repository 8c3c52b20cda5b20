/**
 * Resume storm (issue 10): N clients on the resumable protocol over two gateway nodes (A and B, our bench server on
 * the Redis engine, one redis-server), each bound to its own uid and in one of G storm groups, while the push-only
 * node C streams `stormRate` messages a second to random uids and groups (open loop, each target numbering its
 * messages). Node A is stopped gracefully (SIGTERM: `app.close()`, its resumable clients get 1012); its clients
 * reconnect to B (the load generators' target list is switched to B first, as a load balancer takes a stopping node
 * out) after the official client's backoff (full jitter in [0, 1 s) for the first attempt) and resume there. Then a
 * replacement node A2 is started and joins the targets, the stream stops, and every client checks what it received.
 *
 * Measured:
 *   - per client of A: stop (the orchestrator's SIGTERM) → its 1012 close, stop → its resumed welcome, and its
 *     successful attempt's socket open → welcome; reconnect attempts (more than one each = retries, 1013s);
 *   - re-binds (a resume answered resumed:false: the client would have to be bound again) and resumes not recovered;
 *   - messages lost: every message C's `send` resolved with delivered + held > 0 must reach every client of its
 *     target once, in order per target; duplicates and reorderings are counted too;
 *   - B's CPU: (a) while B's own N/2 clients connect fresh (hello → welcome, registered in Redis) and are bound
 *     (`bindUid` + `joinGroup`), per client; (b) from A's stop until the last client resumed, minus the stream's share
 *     (B's CPU per frame written in a steady 2 s window just before the stop × the stream frames B wrote during the
 *     storm, i.e. every frame but replays and welcomes), per resume; and (b) ÷ (a).
 */
import { join } from 'node:path';
import { nowMs, percentile, sleep, stormGroupOf, type StreamResult } from '../lib/common';
import { connectClients, loadgensFor, Session, waitClients, waitGroup, type Server, type StormClientOptions } from '../lib/session';
import type { MeasureResult } from '../servers/control';
import type { BenchConfig } from './config';
import { startRedisNodes } from './cluster';
import { oursArgs } from './fanout';

interface VerifyResult {
  clients: number;
  expected: number;
  received: number;
  lost: number;
  duplicates: number;
  unexpected: number;
  disorder: number;
  stray: number;
  waitedMs: number;
  problems: string[];
}

interface CollectResult {
  clients: number;
  armed: number;
  resumed: number;
  closedAt: number[];
  resumedAt: number[];
  welcomeMs: number[];
  attempts: number;
  firstAttemptAt: number[];
  attemptsEach: number[];
  resumes: number;
  resumesOther: number;
  rebinds: number;
  notRecovered: number;
  closeCodes: Record<string, number>;
  finalCloses: number;
  stray: number;
  disorder: number;
  maxDelayMs: number;
  samples: string[];
}

interface Counters {
  framesDelivered: number;
  replayedMessages: number;
  resumes: number;
}

interface ResumeStats {
  resumed: number;
  notRecovered: number;
  moved: number;
  clients: number;
  metrics: Record<string, number>;
  warnings: Record<string, number>;
}

export interface StormFigures {
  /** Cores other processes of the machine used during the session (≈0 on a quiet machine). */
  foreignCores: number;
  n: number;
  /** Clients on the stopped node A (they resume on B). */
  stormClients: number;
  groups: number;
  /** ms from A's SIGTERM to each of its clients' resumed welcome. */
  resumeP50Ms: number;
  resumeP99Ms: number;
  /** ms from A's SIGTERM until every one of its clients had resumed. */
  allResumedMs: number;
  /** ms from A's SIGTERM to each client's 1012 close. */
  closeP50Ms: number;
  closeMaxMs: number;
  /** ms from the successful attempt's socket open to its resumed welcome (the server side of one resume, plus queueing). */
  attemptP50Ms: number;
  attemptP99Ms: number;
  /** Sockets opened per resumed client of A (1 = no retry). */
  attemptsPerResume: number;
  closeCodes: Record<string, number>;
  /** Resume hellos answered resumed:false (must be 0). */
  rebinds: number;
  /** Resumed welcomes with recovered:false (must be 0). */
  notRecovered: number;
  /** Resumes of clients that were not on A (must be 0: B's clients are not disturbed). */
  resumesOther: number;
  /** Closes the official client would not come back from (1000, 1008, 1009, 4001; must be 0). */
  finalCloses: number;
  /** Accepted messages a client of their target never got (must be 0). */
  lost: number;
  duplicates: number;
  disorder: number;
  /** Messages received although their send was not accepted, and messages for a target the client is not in. */
  unexpected: number;
  stray: number;
  /** Deliveries expected (accepted messages × their target's clients) and received. */
  expectedDeliveries: number;
  receivedDeliveries: number;
  /** Messages the stream sent, accepted (delivered + held > 0), and sent while some of their recipients were held. */
  sent: number;
  accepted: number;
  heldMessages: number;
  held: number;
  streamSeconds: number;
  /** Largest send → receipt delay of a stream message at any client (held ones included), ms. */
  maxDelayMs: number;
  /** B's CPU per fresh connect + bind of its own clients, µs (connect part + bind part). */
  freshCpuUsPerClient: number;
  freshConnectCpuUs: number;
  freshBindCpuUs: number;
  /** B's CPU during the storm window, µs, the window, ms, and B's steady CPU rate under the stream before it (cores). */
  stormCpuUs: number;
  stormWallMs: number;
  baselineCores: number;
  /** Resumes B saw (resume$ events) during the session. */
  resumesOnB: number;
  /** B's CPU per stream frame written in the steady window, µs; stream frames and replayed messages B wrote in the storm. */
  usPerStreamFrame: number;
  stormStreamFrames: number;
  stormReplayed: number;
  /**
   * (storm CPU − CPU per stream frame × the storm's stream frames) ÷ resumes, µs; the same with the steady CPU rate ×
   * the window subtracted instead (under-subtracts: B serves twice the clients after the storm); nothing subtracted.
   */
  cpuUsPerResume: number;
  timeBasedCpuUsPerResume: number;
  rawCpuUsPerResume: number;
  /** cpuUsPerResume ÷ freshCpuUsPerClient (1 = a resume costs the surviving node what a fresh connect + bind does). */
  resumeOverFresh: number;
  /** A's graceful shutdown: SIGTERM → process exit, ms. */
  shutdownMs: number;
  /** The module's resume metrics on B at the end, and B's warnings by text (ids blanked): why resumes were deferred. */
  metricsB: Record<string, number>;
  warningsB: Record<string, number>;
  /** Resumes B answered 1013 (try again later). */
  deferred: number;
  /**
   * The clients of A split by when their first reconnect attempt started: before A's process exited (A still shutting
   * down) or after; for each, how many there were and how many needed more than one attempt.
   */
  beforeExit: { clients: number; retried: number };
  afterExit: { clients: number; retried: number };
  /** First problems seen (client samples, sender rejections, verification misses). */
  samples: string[];
}

function wsUrl(server: Server): string {
  return `ws://127.0.0.1:${server.port}/ws`;
}

function membersOf(n: number, groups: number, k: number): number {
  return Math.floor(n / groups) + (k < n % groups ? 1 : 0);
}

function cpuUs(m: MeasureResult): number {
  return m.cpuUserUs + m.cpuSystemUs;
}

export async function runStorm(config: BenchConfig, rep = 0): Promise<StormFigures> {
  const { n } = config;
  const G = config.stormGroups;
  const session = new Session(config.verbose);
  try {
    const redis = await session.startRedis();
    const engineArgs = ['--engine=redis', `--redis=${redis.url}`, '--prefix=bench:', ...oursArgs(config)];
    const [a, b, c] = await startRedisNodes(session, engineArgs);
    const loadgens = await session.startLoadgens(loadgensFor(n));
    const nA = Math.ceil(n / 2);
    const nB = n - nA;
    const storm: StormClientOptions = { groups: G, backoffInitialMs: config.stormBackoffMs, backoffMaxMs: 30_000 };
    const bindTimeout = 60_000 + n * 20;
    const bindArgs = { concurrency: 64, stormGroups: G };

    const profile = config.stormProfileDir;
    const profilePath = (what: string) => join(profile!, `${what}-node-B-rep${rep + 1}.cpuprofile`);
    // (a) B's own clients, fresh: connect (hello → welcome, registered) then bind (uid + one group), CPU measured.
    if (profile) await b.peer.request('profileStart');
    await b.peer.request('measureStart', { stall: false });
    await connectClients(loadgens, 'resume', [{ url: wsUrl(b), count: nB }], { uidStart: nA, storm });
    await waitClients(b, nB);
    const connectPart = await b.peer.request<MeasureResult>('measureStop');
    await b.peer.request('measureStart', { stall: false });
    const boundB = await b.peer.request<number>('bindAll', bindArgs, bindTimeout);
    const bindPart = await b.peer.request<MeasureResult>('measureStop');
    if (profile) await b.peer.request('profileStop', { path: profilePath('fresh') }, 60_000);
    if (boundB !== nB) throw new Error(`resume storm: B bound ${boundB} of ${nB}`);
    // A's clients (the ones the storm moves), not measured.
    await connectClients(loadgens, 'resume', [{ url: wsUrl(a), count: nA }], { uidStart: 0, storm });
    await waitClients(a, nA);
    const boundA = await a.peer.request<number>('bindAll', bindArgs, bindTimeout);
    if (boundA !== nA) throw new Error(`resume storm: A bound ${boundA} of ${nA}`);
    // The sender's node sees every member (a message sent before a client joined its group is not for it).
    for (let k = 0; k < G; k++) await waitGroup(c, membersOf(n, G, k), stormGroupOf(k));

    // The stream, then B's steady-state CPU under it.
    await c.peer.request('streamStart', { rate: config.stormRate, uids: n, groups: G, groupShare: config.stormGroupShare });
    await sleep(1_000);
    const baseline0 = await b.peer.request<Counters>('counters');
    await b.peer.request('measureStart', { stall: false });
    await sleep(2_000);
    const baseline = await b.peer.request<MeasureResult>('measureStop');
    const baseline1 = await b.peer.request<Counters>('counters');

    // (b) The storm: A out of the targets, armed, stopped gracefully; B measured until every client of A resumed.
    await Promise.all(loadgens.map((lg) => lg.peer.request('setTargets', { urls: [wsUrl(b)] })));
    const token = Date.now();
    const armed = await Promise.all(loadgens.map((lg) => lg.peer.request<{ expected: number }>('stormArm', { token, url: wsUrl(a) })));
    const expected = armed.reduce((sum, r) => sum + r.expected, 0);
    if (expected !== nA) throw new Error(`resume storm: ${expected} clients armed on A, ${nA} expected`);
    const stormTimeout = 60_000 + n * 10;
    const dones = Promise.all(
      loadgens.map((lg) =>
        lg.peer.waitFor<{ token: number; lastAt: number }>('stormDone', stormTimeout, 'every client of node A resumed on B', (d) => d.token === token),
      ),
    );
    dones.catch(() => undefined); // awaited below
    if (profile) await b.peer.request('profileStart');
    const storm0 = await b.peer.request<Counters>('counters');
    await b.peer.request('measureStart', { stall: false });
    const stopAt = nowMs();
    const stopped = session.stopServer(a, 'SIGTERM', 60_000).then((exit) => ({ ...exit, at: nowMs() }));
    stopped.catch(() => undefined); // awaited below
    try {
      await dones;
    } catch (error) {
      const partial = await Promise.all(loadgens.map((lg) => lg.peer.request<CollectResult>('stormCollect', {}, 10_000).catch((e: Error) => e.message)));
      const brief = partial.map((p) =>
        typeof p === 'string' ? p : { armed: p.armed, resumed: p.resumed, attempts: p.attempts, rebinds: p.rebinds, closeCodes: p.closeCodes, samples: p.samples.slice(0, 5) },
      );
      throw new Error(`${(error as Error).message}\nload generators: ${JSON.stringify(brief)}`);
    }
    const stormWindow = await b.peer.request<MeasureResult>('measureStop');
    const storm1 = await b.peer.request<Counters>('counters');
    if (profile) await b.peer.request('profileStop', { path: profilePath('storm') }, 60_000);
    const exit = await stopped;
    if (exit.code !== 0) throw new Error(`node-A exited with code ${exit.code} (signal ${exit.signal}) after SIGTERM\n${a.peer.output().slice(-2000)}`);

    // The restart: a replacement for A joins the targets; the stream goes on a second, then stops.
    const a2 = await session.startServer('ours', 'node-A2', engineArgs);
    await Promise.all(loadgens.map((lg) => lg.peer.request('setTargets', { urls: [wsUrl(b), wsUrl(a2)] })));
    await sleep(1_000);
    const stream = await c.peer.request<StreamResult>('streamStop', {}, 30_000);
    const verified = await Promise.all(
      loadgens.map((lg) =>
        lg.peer.request<VerifyResult>('stormVerify', { last: stream.last, rejected: stream.rejected, timeoutMs: 20_000 }, 60_000),
      ),
    );
    const collected = await Promise.all(loadgens.map((lg) => lg.peer.request<CollectResult>('stormCollect')));
    const statsB = await b.peer.request<ResumeStats>('resumeStats');

    const sorted = (values: number[]) => values.sort((x, y) => x - y);
    const resumedAfter = sorted(collected.flatMap((r) => r.resumedAt.map((t) => t - stopAt)));
    const closedAfter = sorted(collected.flatMap((r) => r.closedAt.filter((t) => t > 0).map((t) => t - stopAt)));
    const attemptMs = sorted(collected.flatMap((r) => r.welcomeMs));
    const sum = (pick: (r: CollectResult) => number) => collected.reduce((total, r) => total + pick(r), 0);
    const vsum = (pick: (r: VerifyResult) => number) => verified.reduce((total, r) => total + pick(r), 0);
    const closeCodes: Record<string, number> = {};
    for (const r of collected) for (const [code, count] of Object.entries(r.closeCodes)) closeCodes[code] = (closeCodes[code] ?? 0) + count;
    const resumes = statsB.resumed || resumedAfter.length;
    const baselineUsPerMs = cpuUs(baseline) / baseline.wallMs;
    const stormCpu = cpuUs(stormWindow);
    // The stream goes on during the storm, and B delivers it to twice as many clients once they resumed: its cost is
    // taken out per frame (B's CPU per frame written in the steady window before the stop × the frames B wrote in the
    // storm window that were neither replays nor welcomes), not per second.
    const baselineFrames = baseline1.framesDelivered - baseline0.framesDelivered;
    const usPerStreamFrame = baselineFrames > 0 ? cpuUs(baseline) / baselineFrames : 0;
    const stormReplayed = storm1.replayedMessages - storm0.replayedMessages;
    const stormWelcomes = storm1.resumes - storm0.resumes;
    const stormStreamFrames = Math.max(0, storm1.framesDelivered - storm0.framesDelivered - stormReplayed - stormWelcomes);
    const cpuUsPerResume = (stormCpu - usPerStreamFrame * stormStreamFrames) / resumes;
    const freshCpuUsPerClient = (cpuUs(connectPart) + cpuUs(bindPart)) / nB;
    const rejected = Object.values(stream.rejected).reduce((total, list) => total + list.length, 0);
    const beforeExit = { clients: 0, retried: 0 };
    const afterExit = { clients: 0, retried: 0 };
    for (const r of collected) {
      r.firstAttemptAt.forEach((at, i) => {
        const side = at > 0 && at < exit.at ? beforeExit : afterExit;
        side.clients++;
        if (r.attemptsEach[i] > 1) side.retried++;
      });
    }
    return {
      foreignCores: session.foreignCores(),
      n,
      stormClients: nA,
      groups: G,
      resumeP50Ms: percentile(resumedAfter, 50),
      resumeP99Ms: percentile(resumedAfter, 99),
      allResumedMs: resumedAfter[resumedAfter.length - 1],
      closeP50Ms: percentile(closedAfter, 50),
      closeMaxMs: closedAfter[closedAfter.length - 1],
      attemptP50Ms: percentile(attemptMs, 50),
      attemptP99Ms: percentile(attemptMs, 99),
      attemptsPerResume: sum((r) => r.attempts) / resumedAfter.length,
      closeCodes,
      rebinds: sum((r) => r.rebinds),
      notRecovered: sum((r) => r.notRecovered),
      resumesOther: sum((r) => r.resumesOther),
      finalCloses: sum((r) => r.finalCloses),
      lost: vsum((r) => r.lost),
      duplicates: vsum((r) => r.duplicates),
      disorder: vsum((r) => r.disorder),
      unexpected: vsum((r) => r.unexpected),
      stray: vsum((r) => r.stray),
      expectedDeliveries: vsum((r) => r.expected),
      receivedDeliveries: vsum((r) => r.received),
      sent: stream.sent,
      accepted: stream.accepted,
      heldMessages: stream.heldMessages,
      held: stream.held,
      streamSeconds: stream.seconds,
      maxDelayMs: Math.max(...collected.map((r) => r.maxDelayMs)),
      freshCpuUsPerClient,
      freshConnectCpuUs: cpuUs(connectPart) / nB,
      freshBindCpuUs: cpuUs(bindPart) / nB,
      stormCpuUs: stormCpu,
      stormWallMs: stormWindow.wallMs,
      baselineCores: baselineUsPerMs / 1000,
      usPerStreamFrame,
      stormStreamFrames,
      stormReplayed,
      timeBasedCpuUsPerResume: (stormCpu - baselineUsPerMs * stormWindow.wallMs) / resumes,
      resumesOnB: statsB.resumed,
      cpuUsPerResume,
      rawCpuUsPerResume: stormCpu / resumes,
      resumeOverFresh: cpuUsPerResume / freshCpuUsPerClient,
      shutdownMs: exit.at - stopAt,
      metricsB: statsB.metrics,
      warningsB: statsB.warnings,
      deferred: statsB.metrics.retried ?? NaN,
      beforeExit,
      afterExit,
      samples: [
        ...collected.flatMap((r) => r.samples),
        ...stream.samples.map((s) => `sender: ${s}`),
        ...verified.flatMap((r) => r.problems),
        ...(rejected ? [`sender: ${rejected} message(s) not accepted`] : []),
      ].slice(0, 30),
    };
  } catch (error) {
    throw session.explain(error);
  } finally {
    await session.close();
  }
}

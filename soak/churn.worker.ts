/**
 * The churn process: a steady stream of short-lived sockets, each of which logs in as its own uid, binds with a
 * group, maybe joins a second one, and ends after a random life, half with close(1000) and half with terminate().
 * It runs apart from the watchers so that its own work never delays a watcher's pong, and apart from the
 * orchestrator so that its counts are all it reports. Forked by `run-soak.ts`; commands: start, progress, stop.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { dieOnUncaught, serve } from '../bench/lib/ipc';
import { appRequest, describeReply, keepAliveAgent, login, staleSocketRetryCount, type AppReply } from './lib/app-http';
import type { ChurnConfig, ChurnCut, ChurnProgress, ChurnReport } from './lib/churn.protocol';

dieOnUncaught('churn');

/** Samples kept for the report (the counts cover everything). */
const MAX_SAMPLES = 20;
/** How often the creation loop runs; each run catches up with the schedule, at most a tenth of a second's worth. */
const TICK_MS = 20;

interface Churner {
  n: number;
  uid: string;
  gateway: string;
  socket: WebSocket;
  lifetimeMs: number;
  /** A racer closes a moment after sending this request instead of living out a lifetime. */
  race: 'bind' | 'join' | null;
  openedAt: number;
  clientId: string;
  /** Set when the churner started its own close (or was cut): requests answered later raced the close. */
  closing: boolean;
  clean: boolean;
  bound: boolean;
  lastPingAt: number;
  timer: NodeJS.Timeout | null;
}

class Churn {
  private readonly agent = keepAliveAgent(64);
  private readonly live = new Set<Churner>();
  private readonly loop = monitorEventLoopDelay({ resolution: 10 });
  private startedAt = 0;
  private stoppedAt = 0;
  private timer: NodeJS.Timeout | null = null;
  private created = 0;
  private inFlight = 0;
  private openArea = 0;
  private openSince = 0;
  private readonly latencies: number[] = [];
  readonly report: ChurnReport = {
    durationMs: 0,
    opened: 0,
    racers: 0,
    connected: 0,
    inited: 0,
    logins: 0,
    bound: 0,
    joined: 0,
    racedClose: 0,
    racedCloseOk: 0,
    closedClean: 0,
    closedAbrupt: 0,
    cut: 0,
    cutCodes: {},
    cuts: [],
    errors: 0,
    errorSamples: [],
    unansweredCloses: 0,
    unexpectedFrames: 0,
    throttled: 0,
    maxOpen: 0,
    meanOpen: 0,
    httpP50Ms: 0,
    httpP99Ms: 0,
    eventLoopMaxMs: 0,
    staleSocketRetries: 0,
  };

  constructor(private readonly config: ChurnConfig) {}

  start(): void {
    this.loop.enable();
    this.startedAt = this.openSince = Date.now();
    this.timer = setInterval(() => this.tick(), TICK_MS);
  }

  progress(): ChurnProgress {
    return {
      elapsedMs: Date.now() - this.startedAt,
      opened: this.report.opened,
      open: this.live.size,
      cut: this.report.cut,
      errors: this.report.errors,
    };
  }

  /**
   * Stops creating sockets, lets the open ones live out their planned life (at most 2×mean), then waits for every
   * close and every request in flight, each wait bounded; a clean close the server never answered is counted.
   */
  async stop(drainMs: number): Promise<ChurnReport> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.stoppedAt = Date.now();
    this.trackOpen();
    // Over the load only: the ramp-up is in it, the drain is not.
    this.report.meanOpen = this.openArea / Math.max(1, this.stoppedAt - this.startedAt);
    const deadline = Date.now() + drainMs;
    while ((this.live.size > 0 || this.inFlight > 0) && Date.now() < deadline) await sleep(50);
    for (const churner of this.live) {
      if (churner.closing && churner.clean) this.report.unansweredCloses++;
      this.error(`${churner.uid}: still open ${drainMs} ms after the churn stopped (state ${churner.socket.readyState})`);
      churner.socket.terminate();
    }
    if (this.inFlight > 0) this.error(`${this.inFlight} request(s) still unanswered ${drainMs} ms after the churn stopped`);
    const sorted = this.latencies.sort((a, b) => a - b);
    const at = (p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] : 0);
    this.report.durationMs = this.stoppedAt - this.startedAt;
    this.report.httpP50Ms = round(at(0.5));
    this.report.httpP99Ms = round(at(0.99));
    this.report.eventLoopMaxMs = round(this.loop.max / 1e6);
    this.report.staleSocketRetries = staleSocketRetryCount();
    this.loop.disable();
    this.agent.destroy();
    return this.report;
  }

  private tick(): void {
    const due = Math.floor(((Date.now() - this.startedAt) * this.config.perSecond) / 1000);
    let budget = Math.ceil(this.config.perSecond / 10);
    while (this.created < due && budget-- > 0) {
      this.created++;
      if (this.live.size >= this.config.maxOpen) this.report.throttled++;
      else this.open(this.created);
    }
  }

  private open(n: number): void {
    const { config } = this;
    const uid = `${config.uidPrefix}${n}`;
    const gateway = config.gateways[n % config.gateways.length];
    const http = config.httpNodes[Math.floor(Math.random() * config.httpNodes.length)];
    const socket = new WebSocket(gateway, { perMessageDeflate: false, handshakeTimeout: config.connectTimeoutMs });
    const race = Math.random() < config.raceRatio ? (Math.random() < 0.5 ? 'bind' : 'join') : null;
    // The others live longer on average, so that about perSecond × meanLifetime stay open at once.
    const mean = config.meanLifetimeMs / (1 - config.raceRatio);
    const churner: Churner = {
      n,
      uid,
      gateway,
      socket,
      lifetimeMs: race ? -1 : Math.random() * 2 * mean,
      race,
      openedAt: 0,
      clientId: '',
      closing: false,
      clean: n % 2 === 0, // exactly half close cleanly, half abruptly
      bound: false,
      lastPingAt: 0,
      timer: null,
    };
    this.trackOpen();
    this.live.add(churner);
    this.report.opened++;
    if (race) this.report.racers++;
    this.report.maxOpen = Math.max(this.report.maxOpen, this.live.size);
    // Logging in does not need the socket: it runs while the upgrade is in flight, as a page's would.
    const cookie = this.request(churner, 'login', () => login(this.agent, http, uid, config.requestTimeoutMs));
    socket.on('open', () => {
      this.report.connected++;
      churner.openedAt = Date.now();
      // A racer that never gets to its request (a failed login or bind) still ends, at the longest life.
      const life = churner.race ? 2 * config.meanLifetimeMs : churner.lifetimeMs;
      churner.timer = setTimeout(() => this.end(churner), life);
    });
    socket.on('ping', () => (churner.lastPingAt = Date.now()));
    socket.on('message', (data, isBinary) => {
      const frame = isBinary ? null : safeJson(data.toString());
      if (churner.clientId || frame?.type !== 'init' || typeof frame.client_id !== 'string') {
        this.report.unexpectedFrames++;
        return;
      }
      churner.clientId = frame.client_id;
      this.report.inited++;
      void this.bindAndJoin(churner, http, cookie);
    });
    socket.on('unexpected-response', (_req, res) => {
      this.error(`${uid}: upgrade on ${gateway} refused with ${res.statusCode}`);
      res.resume();
      socket.terminate();
    });
    socket.on('error', (error) => {
      if (!churner.closing) this.error(`${uid}: socket error on ${gateway}: ${error.message}`);
    });
    socket.on('close', (code, reason) => this.closed(churner, code, reason.toString()));
  }

  private async bindAndJoin(churner: Churner, http: string, cookie: Promise<string | null>): Promise<void> {
    const session = await cookie;
    if (!session || churner.closing) return;
    const room = `room-${churner.n % this.config.rooms}`;
    if (churner.race === 'bind') this.raceClose(churner);
    const bind = await this.request(churner, 'bind', () =>
      appRequest(this.agent, http, 'POST', '/bind', {
        cookie: session,
        body: { client_id: churner.clientId, group: room },
        timeoutMs: this.config.requestTimeoutMs,
        retryStaleSocket: true,
      }),
    );
    if (!this.accept(churner, 'bind', bind)) return;
    churner.bound = true;
    this.report.bound++;
    if (churner.closing || (churner.race !== 'join' && Math.random() >= this.config.joinRatio)) return;
    const topic = `topic-${churner.n % this.config.topics}`;
    if (churner.race === 'join') this.raceClose(churner);
    const join = await this.request(churner, 'join', () =>
      appRequest(this.agent, http, 'POST', '/join', {
        cookie: session,
        body: { client_id: churner.clientId, group: topic },
        timeoutMs: this.config.requestTimeoutMs,
        retryStaleSocket: true,
      }),
    );
    if (this.accept(churner, 'join', join)) this.report.joined++;
  }

  /**
   * Judges a bind or join reply. While the socket is open only 200 is right. Once the churner has started
   * closing, 404 (gone) and 403 (bindings already removed) are right too, and a 200 means the write raced the
   * close: counted, since that is where index entries leak.
   */
  private accept(churner: Churner, what: string, reply: AppReply | null): boolean {
    if (!reply) return false;
    if (churner.closing) {
      this.report.racedClose++;
      if (reply.status === 200) this.report.racedCloseOk++;
      else if (reply.status !== 403 && reply.status !== 404) {
        this.error(`${churner.uid}: ${what} answered ${describeReply(reply)} (after its close)`);
      }
      return false;
    }
    if (reply.status === 200) return true;
    this.error(`${churner.uid}: ${what} answered ${describeReply(reply)} while its socket was open`);
    return false;
  }

  /** Runs one request with latency and in-flight bookkeeping; a failure (network, timeout) is an error. */
  private async request<T>(churner: Churner, what: string, run: () => Promise<T>): Promise<T | null> {
    this.inFlight++;
    const started = performance.now();
    try {
      const result = await run();
      if (what === 'login') this.report.logins++;
      return result;
    } catch (error) {
      this.error(`${churner.uid}: ${what} failed: ${(error as Error).message}`);
      return null;
    } finally {
      this.latencies.push(performance.now() - started);
      this.inFlight--;
    }
  }

  /**
   * Closes a racer while its request is in flight: at a random moment within about one request's round trip, so
   * over many racers the close lands before, during and after the app's write into the index.
   */
  private raceClose(churner: Churner): void {
    if (churner.timer) clearTimeout(churner.timer);
    churner.timer = setTimeout(() => this.end(churner), Math.random() * this.config.raceWindowMs);
  }

  private end(churner: Churner): void {
    churner.timer = null;
    churner.closing = true;
    if (churner.clean) churner.socket.close(1000, 'churn');
    else churner.socket.terminate();
  }

  private closed(churner: Churner, code: number, reason: string): void {
    if (churner.timer) clearTimeout(churner.timer);
    this.trackOpen();
    this.live.delete(churner);
    if (churner.closing) {
      if (churner.clean) this.report.closedClean++;
      else this.report.closedAbrupt++;
      return;
    }
    churner.closing = true;
    if (!churner.openedAt) return; // never opened: the error handler counted it
    // The server closed a socket that was answering pings and meant to live on: a healthy client cut.
    const now = Date.now();
    this.report.cut++;
    this.report.cutCodes[code] = (this.report.cutCodes[code] ?? 0) + 1;
    if (this.report.cuts.length < MAX_SAMPLES) {
      const cut: ChurnCut = {
        uid: churner.uid,
        clientId: churner.clientId,
        gateway: churner.gateway,
        code,
        reason,
        at: now,
        ageMs: now - churner.openedAt,
        lifetimeMs: Math.round(churner.lifetimeMs),
        bound: churner.bound,
        lastPingAgoMs: churner.lastPingAt ? now - churner.lastPingAt : null,
      };
      this.report.cuts.push(cut);
    }
  }

  private trackOpen(): void {
    const now = Date.now();
    this.openArea += this.live.size * (now - this.openSince);
    this.openSince = now;
  }

  private error(message: string): void {
    this.report.errors++;
    if (this.report.errorSamples.length < MAX_SAMPLES) this.report.errorSamples.push(message);
  }
}

function safeJson(text: string): any {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

let churn: Churn | null = null;
serve({
  start: (config: ChurnConfig) => {
    if (churn) throw new Error('already started');
    churn = new Churn(config);
    churn.start();
    return null;
  },
  progress: () => churn?.progress() ?? null,
  stop: ({ drainMs }: { drainMs: number }) => churn!.stop(drainMs),
});

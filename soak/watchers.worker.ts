/**
 * The watchers process: long-lived sockets that bind once (uid `watcher-N`, the watchers' group) and then only
 * receive. Each records every numbered push per channel and every ping the server sends, so a cut can be told
 * apart: a 1006 after seconds without a ping is the server's heartbeat starving it, not a slow client. This process
 * does nothing else, so it answers pings at once (its own event-loop delay is reported to prove it). Forked by
 * `run-soak.ts`; commands: start, progress, report, close.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import WebSocket from 'ws';
import { dieOnUncaught, serve } from '../bench/lib/ipc';
import { appRequest, describeReply, keepAliveAgent, login } from './lib/app-http';
import { checkSequence } from './lib/sequence-check';
import type {
  Channel,
  NumberedPush,
  WatcherCut,
  WatcherReport,
  WatchersConfig,
  WatchersProgress,
  WatchersReport,
  WatchersStarted,
} from './lib/watchers.protocol';

dieOnUncaught('watchers');

const MAX_SAMPLES = 5;

class Watcher {
  readonly arrivals: Record<Channel, number[]> = { u: [], g: [] };
  readonly highest: Record<Channel, number> = { u: 0, g: 0 };
  clientId = '';
  cut: WatcherCut | null = null;
  closing = false;
  /** True once the close event fired. */
  done = false;
  pings = 0;
  lastPingAt = 0;
  maxPingGapMs = 0;
  maxPingGapAt = 0;
  latePings = 0;
  misdelivered = 0;
  readonly misdeliveredSamples: string[] = [];
  readonly closed: Promise<void>;
  private socket!: WebSocket;
  private onClosed!: () => void;

  constructor(
    readonly uid: string,
    readonly node: string,
    private readonly pusherUid: string,
    private readonly heartbeatIntervalMs: number,
  ) {
    this.closed = new Promise((resolve) => (this.onClosed = resolve));
  }

  /** Opens the socket and resolves with the client_id of its init frame. */
  connect(url: string, timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = (this.socket = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: timeoutMs }));
      const timer = setTimeout(() => reject(new Error(`${this.uid}: no init frame within ${timeoutMs} ms`)), timeoutMs);
      socket.on('ping', () => {
        const now = Date.now();
        if (this.lastPingAt) {
          const gap = now - this.lastPingAt;
          if (gap > 1.5 * this.heartbeatIntervalMs) this.latePings++;
          if (gap > this.maxPingGapMs) {
            this.maxPingGapMs = gap;
            this.maxPingGapAt = now;
          }
        }
        this.lastPingAt = now;
        this.pings++;
      });
      socket.on('message', (data, isBinary) => {
        const frame = isBinary ? null : safeJson(data.toString());
        if (!this.clientId) {
          if (frame?.type === 'init' && typeof frame.client_id === 'string') {
            clearTimeout(timer);
            this.clientId = frame.client_id;
            resolve(this.clientId);
          } else {
            this.misdeliver(`before init: ${data.toString().slice(0, 120)}`);
          }
          return;
        }
        this.onFrame(frame, data.toString());
      });
      socket.on('error', (error) => {
        clearTimeout(timer);
        reject(new Error(`${this.uid}: ${error.message}`));
      });
      socket.on('close', (code, reason) => {
        clearTimeout(timer);
        reject(new Error(`${this.uid}: closed (${code}) before its init frame`));
        if (!this.closing && !this.cut) {
          const now = Date.now();
          this.cut = {
            code,
            reason: reason.toString(),
            at: now,
            lastPingAgoMs: this.lastPingAt ? now - this.lastPingAt : null,
            highest: { ...this.highest },
          };
        }
        this.done = true;
        this.onClosed();
      });
    });
  }

  close(): void {
    this.closing = true;
    if (this.socket.readyState === WebSocket.CLOSED) return;
    this.socket.close(1000, 'soak over');
  }

  terminate(): void {
    this.socket.terminate();
  }

  report(sent: Record<Channel, number>): WatcherReport {
    return {
      uid: this.uid,
      node: this.node,
      clientId: this.clientId,
      cut: this.cut,
      channels: { u: checkSequence(this.arrivals.u, sent.u), g: checkSequence(this.arrivals.g, sent.g) },
      misdelivered: this.misdelivered,
      misdeliveredSamples: this.misdeliveredSamples,
      pings: this.pings,
      maxPingGapMs: this.maxPingGapMs,
      maxPingGapAt: this.maxPingGapAt,
      latePings: this.latePings,
    };
  }

  private onFrame(frame: any, text: string): void {
    const push = frame?.data as NumberedPush | undefined;
    const valid =
      frame?.type === 'message' &&
      frame.from === this.pusherUid &&
      (push?.ch === 'u' || push?.ch === 'g') &&
      typeof push.seq === 'number' &&
      (push.ch === 'g' || push.to === this.uid);
    if (!valid) return this.misdeliver(text.slice(0, 160));
    this.arrivals[push.ch].push(push.seq);
    if (push.seq > this.highest[push.ch]) this.highest[push.ch] = push.seq;
  }

  private misdeliver(what: string): void {
    this.misdelivered++;
    if (this.misdeliveredSamples.length < MAX_SAMPLES) this.misdeliveredSamples.push(what);
  }
}

const loop = monitorEventLoopDelay({ resolution: 10 });
const watchers: Watcher[] = [];
const agent = keepAliveAgent(16);

/** Connects every watcher, logs each in as its uid and binds it with the watchers' group (10 at a time). */
async function start(config: WatchersConfig): Promise<WatchersStarted> {
  loop.enable();
  const clientIds: Record<string, string> = {};
  const queue = [...config.watchers];
  const worker = async () => {
    for (let spec = queue.shift(); spec; spec = queue.shift()) {
      const watcher = new Watcher(spec.uid, spec.node, config.pusherUid, config.heartbeatIntervalMs);
      watchers.push(watcher);
      const [clientId, cookie] = await Promise.all([
        watcher.connect(spec.wsUrl, config.connectTimeoutMs),
        login(agent, spec.httpBase, spec.uid, config.requestTimeoutMs),
      ]);
      const bind = await appRequest(agent, spec.httpBase, 'POST', '/bind', {
        cookie,
        body: { client_id: clientId, group: config.group },
        timeoutMs: config.requestTimeoutMs,
        retryStaleSocket: true,
      });
      if (bind.status !== 200 || !bind.body?.groups?.includes(config.group)) {
        throw new Error(`${spec.uid}: POST /bind answered ${describeReply(bind)}`);
      }
      clientIds[spec.uid] = clientId;
    }
  };
  await Promise.all(Array.from({ length: 10 }, worker));
  loop.reset(); // from here on this process only receives: its delay is what a pong could have waited
  return { clientIds };
}

function progress(): WatchersProgress {
  const highest: WatchersProgress['highest'] = {};
  for (const watcher of watchers) highest[watcher.uid] = { ...watcher.highest };
  return { highest, cut: watchers.filter((w) => w.cut).length };
}

function report({ sent }: { sent: Record<string, Record<Channel, number>> }): WatchersReport {
  return {
    watchers: watchers.map((w) => w.report(sent[w.uid] ?? { u: 0, g: 0 })),
    eventLoopMaxMs: Math.round(loop.max / 1e5) / 10,
  };
}

/** Closes every watcher with 1000 and waits (bounded) for the closes; stragglers are terminated. */
async function close({ timeoutMs }: { timeoutMs: number }): Promise<{ unanswered: number }> {
  for (const watcher of watchers) watcher.close();
  let timer: NodeJS.Timeout | undefined;
  const all = Promise.all(watchers.map((w) => w.closed)).then(() => true);
  const settled = await Promise.race([all, new Promise<false>((r) => (timer = setTimeout(() => r(false), timeoutMs)))]);
  clearTimeout(timer);
  let unanswered = 0;
  if (!settled) {
    for (const watcher of watchers.filter((w) => !w.done)) {
      watcher.terminate();
      unanswered++;
    }
  }
  agent.destroy();
  loop.disable();
  return { unanswered };
}

function safeJson(text: string): any {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

serve({ start, progress, report, close });

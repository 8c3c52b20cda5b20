/**
 * Load generator: holds up to ~4,500 client sockets (the orchestrator never gives one more), each bound to its
 * own source address range (127.0.0.2, .3, …) so the ~28k ephemeral ports per address never run out. Counts
 * receipts per client, records receive time and, when asked, latency from the `t` the sender put in the
 * payload; tells the orchestrator (`done` event) the moment the expected number of messages has arrived.
 *
 * Client kinds: `ours` (ws; ready on the init frame, which carries the client_id), `resume` (ws on our resumable
 * protocol, subprotocol `nest-push.v1`: says hello, ready on the welcome; a message frame is a JSON header, "\n", the
 * payload: only frames whose header starts `{"type":"msg"` count, and only the payload is read, as for `ours`), `ws`
 * (ready on open), `socketio` (socket.io-client, websocket transport only, `forceNew`, no reconnection; ready on
 * connect).
 *
 * Resume-storm clients (`resume` with `storm` options) also reconnect when their socket closes (not 1000, 1008, 1009,
 * 4001), after the official client's full-jitter backoff, to the next URL of the load generator's target list (set by
 * the orchestrator like a load balancer's backends, `setTargets`), and resume there with their token and cursors
 * (the last offset per history key). They parse every header (cursors) and every payload (`{to, seq, t}`) and keep, per
 * target (their uid and their storm group), the numbers they received, which `stormVerify` checks against what the
 * sender says it sent and had accepted.
 */
import * as http from 'node:http';
import { WebSocket } from 'ws';
import { io, type Socket as SioSocket } from 'socket.io-client';
import { nowMs, pool, stormGroupFor, type StormMessage } from './lib/common';
import { cookieHeader, postJson } from './lib/http-client';
import { dieOnUncaught, emit, guardChild, serve } from './lib/ipc';

guardChild();

type ClientKind = 'ours' | 'resume' | 'ws' | 'socketio';

/** The subprotocol of our resumable protocol. */
const PUSH_PROTOCOL = 'nest-push.v1';
/** How a message frame of the resumable protocol starts (control frames: welcome, hb, error). */
const MSG_HEADER = Buffer.from('{"type":"msg"');
const NEWLINE = 0x0a;

interface Client {
  uid: string;
  clientId: string | null;
  received: number;
  /** `seq` of the last bench message received (burst order check), -1 before the first. */
  lastSeq: number;
  close(): void;
}

const SEQ_KEY = Buffer.from('"seq":');

/**
 * The `seq` field of a bench message (a raw frame or socket.io's parsed object), or -1. `from`: where the payload
 * starts in a raw frame (after the header of the resumable protocol).
 */
function seqOf(data: unknown, from = 0): number {
  if (Buffer.isBuffer(data)) {
    let i = data.indexOf(SEQ_KEY, from);
    if (i < 0) return -1;
    let seq = 0;
    for (i += SEQ_KEY.length; i < data.length && data[i] >= 48 && data[i] <= 57; i++) seq = seq * 10 + data[i] - 48;
    return seq;
  }
  const seq = (data as { seq?: unknown })?.seq;
  return typeof seq === 'number' ? seq : -1;
}

/** Hard cap per process: the fd limit is 20,000 and the orchestrator plans ~4,500. */
const MAX_CLIENTS = 9_000;

const clients: Client[] = [];
let closing = false;
let unexpectedCloses = 0;
/** Bench messages that arrived at a client after one with a higher `seq` (per-socket order broken). */
let outOfOrder = 0;

const counting = {
  token: 0,
  target: 0,
  total: 0,
  firstAt: 0,
  lastAt: 0,
  latency: false,
  latencies: [] as number[],
  done: false,
  cpu0: process.cpuUsage(),
  wall0: 0,
};

function record(client: Client, data: unknown, from = 0): void {
  const now = nowMs();
  client.received++;
  const seq = seqOf(data, from);
  if (seq >= 0) {
    if (seq <= client.lastSeq) outOfOrder++;
    client.lastSeq = seq;
  }
  const c = counting;
  c.total++;
  if (c.firstAt === 0) c.firstAt = now;
  c.lastAt = now;
  if (c.latency) {
    const msg = (
      Buffer.isBuffer(data) ? JSON.parse(data.toString('utf8', from)) : typeof data === 'string' ? JSON.parse(data) : data
    ) as {
      t?: unknown;
      data?: { t?: unknown };
    };
    const t = msg?.t ?? msg?.data?.t;
    if (typeof t === 'number') c.latencies.push(now - t);
  }
  if (!c.done && c.target > 0 && c.total >= c.target) {
    c.done = true;
    const cpu = process.cpuUsage(c.cpu0);
    emit('done', {
      token: c.token,
      total: c.total,
      firstAt: c.firstAt,
      lastAt: c.lastAt,
      cpuUs: cpu.user + cpu.system,
      wallMs: now - c.wall0,
    });
  }
}

/**
 * Whether a frame of the resumable protocol is a message (not a control frame): its header starts `{"type":"msg"`
 * (the server writes `type` first), so bytes 9…12 tell (`{"type":"hb"}`, `"welcome"` and `"error"` differ there).
 */
function isMessageFrame(data: Buffer): boolean {
  return data.length > MSG_HEADER.length && data[9] === 0x6d && data[10] === 0x73 && data[11] === 0x67 && data[12] === 0x22 && data[0] === 0x7b;
}

/** A message frame of the resumable protocol: its payload is counted like a plain frame; control frames are skipped. */
function recordEnveloped(client: Client, data: Buffer): void {
  if (!isMessageFrame(data)) return;
  const nl = data.indexOf(NEWLINE, MSG_HEADER.length);
  if (nl >= 0) record(client, data, nl + 1);
}

function openWs(kind: 'ours' | 'resume' | 'ws', url: string, uid: string, localAddress: string, timeoutMs: number): Promise<Client> {
  return new Promise((resolve, reject) => {
    const options = { localAddress, perMessageDeflate: false, handshakeTimeout: timeoutMs };
    const wsUrl = `${url}?uid=${encodeURIComponent(uid)}`;
    const ws = kind === 'resume' ? new WebSocket(wsUrl, PUSH_PROTOCOL, options) : new WebSocket(wsUrl, options);
    const client: Client = { uid, clientId: null, received: 0, lastSeq: -1, close: () => ws.terminate() };
    let ready = false;
    const timer = setTimeout(() => {
      if (ready) return;
      ws.terminate();
      reject(new Error(`${uid}: not ready within ${timeoutMs} ms (from ${localAddress})`));
    }, timeoutMs);
    const becomeReady = () => {
      ready = true;
      clearTimeout(timer);
      if (kind === 'resume') ws.on('message', (data: Buffer) => recordEnveloped(client, data));
      else ws.on('message', (data) => record(client, data));
      resolve(client);
    };
    ws.on('error', (error) => {
      if (!ready) {
        clearTimeout(timer);
        reject(new Error(`${uid}: ${error.message} (from ${localAddress})`));
      }
    });
    ws.on('close', (code) => {
      if (ready) {
        if (!closing) unexpectedCloses++;
      } else {
        clearTimeout(timer);
        reject(new Error(`${uid}: closed with ${code} before it was ready`));
      }
    });
    if (kind === 'resume') {
      ws.once('open', () => {
        if (ws.protocol !== PUSH_PROTOCOL) {
          ws.terminate();
          reject(new Error(`${uid}: the server did not accept ${PUSH_PROTOCOL} (protocol "${ws.protocol}")`));
          return;
        }
        ws.send('{"type":"hello"}');
      });
      ws.once('message', (data) => {
        try {
          const welcome = JSON.parse(String(data)) as { type?: string; client_id?: string; resumed?: boolean };
          if (welcome.type !== 'welcome' || typeof welcome.client_id !== 'string') throw new Error(`first frame is not a welcome: ${data}`);
          client.clientId = welcome.client_id;
          becomeReady();
        } catch (error) {
          ws.terminate();
          reject(error);
        }
      });
    } else if (kind === 'ours') {
      ws.once('message', (data) => {
        try {
          const init = JSON.parse(String(data)) as { type?: string; client_id?: string };
          if (init.type !== 'init' || typeof init.client_id !== 'string') throw new Error(`first frame is not init: ${data}`);
          client.clientId = init.client_id;
          becomeReady();
        } catch (error) {
          ws.terminate();
          reject(error);
        }
      });
    } else {
      ws.once('open', becomeReady);
    }
  });
}

function openSocketIo(url: string, uid: string, localAddress: string, timeoutMs: number): Promise<Client> {
  return new Promise((resolve, reject) => {
    const socket: SioSocket = io(url, {
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
      timeout: timeoutMs,
      query: { uid },
      // engine.io-client hands localAddress to ws (not in the typings).
      ...({ localAddress } as object),
    });
    const client: Client = { uid, clientId: null, received: 0, lastSeq: -1, close: () => socket.disconnect() };
    let ready = false;
    const timer = setTimeout(() => {
      if (ready) return;
      socket.disconnect();
      reject(new Error(`${uid}: not connected within ${timeoutMs} ms (from ${localAddress})`));
    }, timeoutMs);
    socket.once('connect', () => {
      ready = true;
      clearTimeout(timer);
      client.clientId = socket.id ?? null;
      resolve(client);
    });
    socket.on('connect_error', (error) => {
      if (ready) return;
      clearTimeout(timer);
      reject(new Error(`${uid}: ${error.message} (from ${localAddress})`));
    });
    socket.on('disconnect', () => {
      if (ready && !closing) unexpectedCloses++;
    });
    socket.on('m', (data: unknown) => record(client, data));
    socket.on('message', (data: unknown) => record(client, data));
  });
}

// ---- resume-storm clients ------------------------------------------------------------------------------------

/** Close codes after which the official client does not reconnect. */
const FINAL_CLOSE_CODES = new Set([1000, 1008, 1009, 4001]);

interface StormOptions {
  groups: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
}

interface StormClient extends Client {
  group: string;
  localAddress: string;
  options: StormOptions;
  ws: WebSocket | null;
  /** The URL of the node it is (or was last) connected to. */
  url: string;
  token: string | null;
  /** Last offset received per history key (sent back in the resume hello). */
  cursors: Map<string, string>;
  uidSeqs: number[];
  groupSeqs: number[];
  attempt: number;
  reconnectTimer: NodeJS.Timeout | null;
  /** When the current socket was opened (nowMs). */
  attemptAt: number;
  /** Counted in the storm: it was on the stopped node when the storm was armed. */
  armed: boolean;
  /** Since the arm: sockets opened, when the first one closed, the first resumed welcome and how long its attempt took. */
  attempts: number;
  firstAttemptAt: number;
  closedAt: number;
  resumedAt: number;
  welcomeMs: number;
  final: boolean;
}

/** Reconnect targets, like a load balancer's backends (`setTargets`); empty: each client's own URL. */
let targets: string[] = [];
let nextTarget = 0;

const storm = {
  token: 0,
  expected: 0,
  resumed: 0,
  /** Resumed welcomes (any client, any time). */
  resumes: 0,
  /** Welcomes with resumed:false after a resume hello: the client would have to be bound again. */
  rebinds: 0,
  /** Resumed welcomes with recovered:false. */
  notRecovered: 0,
  /** Resumed welcomes of clients that were not on the stopped node. */
  resumesOther: 0,
  /** Closes by code, after a client was ready. */
  closeCodes: {} as Record<string, number>,
  finalCloses: 0,
  /** Messages for a target the client is not in. */
  stray: 0,
  /** Messages whose number was not above the last one of its target (a duplicate or a reordering). */
  disorder: 0,
  maxDelayMs: 0,
  samples: [] as string[],
};

function sample(text: string): void {
  if (storm.samples.length < 20) storm.samples.push(text);
}

function stormConnect(c: StormClient, onReady?: (error: Error | null) => void): void {
  c.reconnectTimer = null;
  if (closing || c.final) return;
  const url = targets.length ? targets[nextTarget++ % targets.length] : c.url;
  c.url = url;
  c.attemptAt = nowMs();
  c.attempts++;
  if (c.firstAttemptAt === 0) c.firstAttemptAt = c.attemptAt;
  const ws = new WebSocket(`${url}?uid=${encodeURIComponent(c.uid)}`, PUSH_PROTOCOL, {
    localAddress: c.localAddress,
    perMessageDeflate: false,
    handshakeTimeout: 20_000,
  });
  c.ws = ws;
  let welcomed = false;
  ws.on('open', () => {
    const hello = c.token === null ? { type: 'hello' } : { type: 'hello', resume: c.token, cursors: Object.fromEntries(c.cursors) };
    ws.send(JSON.stringify(hello));
  });
  ws.on('message', (data: Buffer) => {
    if (ws !== c.ws) return;
    if (isMessageFrame(data)) return stormMessage(c, data);
    let header: { type?: string; client_id?: string; token?: string; resumed?: boolean; recovered?: boolean; reason?: string };
    try {
      header = JSON.parse(data.toString()) as typeof header;
    } catch {
      return sample(`${c.uid}: unparsable frame ${data.toString().slice(0, 80)}`);
    }
    if (header.type !== 'welcome') return; // hb, error
    welcomed = true;
    stormWelcome(c, header);
    onReady?.(null);
    onReady = undefined;
  });
  ws.on('error', () => undefined); // the close event follows
  ws.on('close', (code: number) => {
    if (ws !== c.ws) return;
    c.ws = null;
    if (onReady) {
      // The first connection of the run: no reconnect, the connect phase fails.
      onReady(new Error(`${c.uid}: closed with ${code} before its welcome (from ${c.localAddress})`));
      onReady = undefined;
      return;
    }
    if (c.closedAt === 0) c.closedAt = nowMs(); // the first since the arm: the 1012 of the stopped node
    storm.closeCodes[code] = (storm.closeCodes[code] ?? 0) + 1;
    if (closing) return;
    if (!welcomed && code !== 1012 && code !== 1013) sample(`${c.uid}: closed with ${code} before its welcome from ${url}`);
    if (FINAL_CLOSE_CODES.has(code)) {
      c.final = true;
      storm.finalCloses++;
      return sample(`${c.uid}: closed for good with ${code}`);
    }
    // The official client's schedule: attempt n waits a random time in [0, min(max, initial × 2ⁿ)).
    const { backoffInitialMs, backoffMaxMs } = c.options;
    const delay = Math.random() * Math.min(backoffMaxMs, backoffInitialMs * 2 ** c.attempt++);
    c.reconnectTimer = setTimeout(() => stormConnect(c), delay);
  });
}

function stormWelcome(c: StormClient, header: { client_id?: string; token?: string; resumed?: boolean; recovered?: boolean; reason?: string }): void {
  const now = nowMs();
  const asked = c.token !== null;
  c.clientId = String(header.client_id);
  c.token = typeof header.token === 'string' ? header.token : null;
  c.attempt = 0;
  if (!asked) return; // its first connection
  if (header.resumed !== true) {
    // Started afresh: a real client would be bound again (and its cursors start over).
    storm.rebinds++;
    c.cursors.clear();
    return sample(`${c.uid}: not resumed (${header.reason ?? 'no reason'})`);
  }
  storm.resumes++;
  if (header.recovered !== true) {
    storm.notRecovered++;
    sample(`${c.uid}: resumed but not recovered`);
  }
  if (!c.armed) {
    storm.resumesOther++;
    return;
  }
  if (c.resumedAt !== 0) return;
  c.resumedAt = now;
  c.welcomeMs = now - c.attemptAt;
  storm.resumed++;
  if (storm.resumed === storm.expected) emit('stormDone', { token: storm.token, lastAt: now });
}

function stormMessage(c: StormClient, data: Buffer): void {
  const now = nowMs();
  const nl = data.indexOf(NEWLINE);
  if (nl < 0) return sample(`${c.uid}: a message frame without payload`);
  let msg: StormMessage;
  try {
    const header = JSON.parse(data.toString('utf8', 0, nl)) as { key?: unknown; off?: unknown };
    if (typeof header.key === 'string' && typeof header.off === 'string') {
      c.cursors.delete(header.key);
      c.cursors.set(header.key, header.off);
    }
    msg = JSON.parse(data.toString('utf8', nl + 1)) as StormMessage;
  } catch {
    return sample(`${c.uid}: unparsable message ${data.toString().slice(0, 120)}`);
  }
  c.received++;
  if (now - msg.t > storm.maxDelayMs) storm.maxDelayMs = now - msg.t;
  const seqs = msg.to === c.uid ? c.uidSeqs : msg.to === c.group ? c.groupSeqs : null;
  if (!seqs) {
    storm.stray++;
    return sample(`${c.uid}: a message for ${msg.to}`);
  }
  if (seqs.length && msg.seq <= seqs[seqs.length - 1]) {
    storm.disorder++;
    sample(`${c.uid}: ${msg.to}#${msg.seq} after #${seqs[seqs.length - 1]}`);
  }
  seqs.push(msg.seq);
}

function openStorm(url: string, uid: string, localAddress: string, timeoutMs: number, options: StormOptions): Promise<StormClient> {
  const c: StormClient = {
    uid,
    clientId: null,
    received: 0,
    lastSeq: -1,
    group: stormGroupFor(uid, options.groups),
    localAddress,
    options,
    ws: null,
    url,
    token: null,
    cursors: new Map(),
    uidSeqs: [],
    groupSeqs: [],
    attempt: 0,
    reconnectTimer: null,
    attemptAt: 0,
    armed: false,
    attempts: 0,
    firstAttemptAt: 0,
    closedAt: 0,
    resumedAt: 0,
    welcomeMs: 0,
    final: false,
    close: () => {
      c.final = true;
      if (c.reconnectTimer) clearTimeout(c.reconnectTimer);
      c.ws?.terminate();
    },
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      c.close();
      reject(new Error(`${uid}: not welcomed within ${timeoutMs} ms (from ${localAddress})`));
    }, timeoutMs);
    stormConnect(c, (error) => {
      clearTimeout(timer);
      if (error) reject(error);
      else resolve(c);
    });
  });
}

const stormClients: StormClient[] = [];

interface ConnectArgs {
  kind: ClientKind;
  url: string;
  count: number;
  uidStart: number;
  addresses: string[];
  perAddress: number;
  concurrency?: number;
  timeoutMs?: number;
  storm?: StormOptions;
}

serve({
  connect: async ({ kind, url, count, uidStart, addresses, perAddress, concurrency = 100, timeoutMs = 20_000, storm: stormOptions }: ConnectArgs) => {
    if (stormOptions && kind !== 'resume') throw new Error('storm clients speak the resumable protocol (kind "resume")');
    if (clients.length + count > MAX_CLIENTS) throw new Error(`a load generator holds at most ${MAX_CLIENTS} sockets`);
    if (addresses.length * perAddress < count) throw new Error('not enough source addresses for the clients asked');
    const started = nowMs();
    const indexes = Array.from({ length: count }, (_, i) => i);
    const opened: Client[] = [];
    let failure: Error | null = null;
    let failed = 0;
    await pool(indexes, concurrency, async (i) => {
      if (failure) return;
      const uid = `u${uidStart + i}`;
      const localAddress = addresses[Math.floor(i / perAddress)];
      try {
        if (stormOptions) {
          const client = await openStorm(url, uid, localAddress, timeoutMs, stormOptions);
          stormClients.push(client);
          opened.push(client);
          return;
        }
        const client =
          kind === 'socketio'
            ? await openSocketIo(url, uid, localAddress, timeoutMs)
            : await openWs(kind, url, uid, localAddress, timeoutMs);
        opened.push(client);
      } catch (error) {
        failed++;
        failure ??= error as Error;
      }
    });
    clients.push(...opened);
    if (failure) throw new Error(`${failed} of ${count} connections failed; first: ${(failure as Error).message}`);
    return { connected: opened.length, ms: nowMs() - started };
  },

  /** Binds every client the way a page does: `POST /login {uid}` then `POST /bind {client_id}` with the cookie. */
  httpBind: async ({ baseUrl, concurrency = 32 }: { baseUrl: string; concurrency?: number }) => {
    const url = new URL(baseUrl);
    const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
    const started = nowMs();
    try {
      await pool(clients, concurrency, async (client) => {
        if (!client.clientId) throw new Error(`${client.uid} has no client_id`);
        const login = await postJson(agent, url, '/login', JSON.stringify({ uid: client.uid }));
        if (login.status !== 200) throw new Error(`POST /login for ${client.uid}: ${login.status} ${login.body}`);
        const bind = await postJson(agent, url, '/bind', JSON.stringify({ client_id: client.clientId }), {
          cookie: cookieHeader(login.headers),
        });
        if (bind.status !== 200) throw new Error(`POST /bind for ${client.uid}: ${bind.status} ${bind.body}`);
      });
    } finally {
      agent.destroy();
    }
    return { bound: clients.length, ms: nowMs() - started };
  },

  /**
   * Starts counting: `perClient` messages per client are expected (0 = open-ended, no `done` event); with
   * `latency`, each payload is parsed for its send time.
   */
  expect: ({ perClient, latency, token }: { perClient: number; latency: boolean; token: number }) => {
    for (const client of clients) {
      client.received = 0;
      client.lastSeq = -1;
    }
    outOfOrder = 0;
    Object.assign(counting, {
      token,
      target: perClient * clients.length,
      total: 0,
      firstAt: 0,
      lastAt: 0,
      latency,
      latencies: [],
      done: false,
      cpu0: process.cpuUsage(),
      wall0: nowMs(),
    });
    return { clients: clients.length };
  },

  status: () => ({ total: counting.total, target: counting.target, clients: clients.length, unexpectedCloses }),

  collect: () => {
    let minPerClient = Infinity;
    let maxPerClient = 0;
    for (const client of clients) {
      if (client.received < minPerClient) minPerClient = client.received;
      if (client.received > maxPerClient) maxPerClient = client.received;
    }
    const cpu = process.cpuUsage(counting.cpu0);
    return {
      total: counting.total,
      firstAt: counting.firstAt,
      lastAt: counting.lastAt,
      latencies: counting.latencies,
      minPerClient: clients.length ? minPerClient : 0,
      maxPerClient,
      unexpectedCloses,
      outOfOrder,
      cpuUs: cpu.user + cpu.system,
    };
  },

  /** Where storm clients reconnect from now on (round robin), like a load balancer's backends. */
  setTargets: ({ urls }: { urls: string[] }) => {
    targets = [...urls];
    nextTarget = 0;
    return null;
  },

  /**
   * Arms the storm: the clients connected to `url` (the node about to stop) are the ones counted; a `stormDone` event
   * `{token, lastAt}` follows once each of them got a welcome with resumed:true.
   */
  stormArm: ({ token, url }: { token: number; url: string }) => {
    Object.assign(storm, { token, expected: 0, resumed: 0 });
    for (const c of stormClients) {
      c.armed = c.url === url && !c.final;
      c.attempts = 0;
      c.firstAttemptAt = 0;
      c.closedAt = 0;
      c.resumedAt = 0;
      c.welcomeMs = 0;
      if (c.armed) storm.expected++;
    }
    if (storm.expected === 0) emit('stormDone', { token, lastAt: nowMs() });
    return { expected: storm.expected, clients: stormClients.length };
  },

  /** The storm's figures: per armed client, when its socket closed, when it resumed, how long its resume attempt took. */
  stormCollect: () => {
    const armed = stormClients.filter((c) => c.armed);
    return {
      clients: stormClients.length,
      armed: armed.length,
      resumed: armed.filter((c) => c.resumedAt > 0).length,
      closedAt: armed.map((c) => c.closedAt),
      resumedAt: armed.filter((c) => c.resumedAt > 0).map((c) => c.resumedAt),
      welcomeMs: armed.filter((c) => c.resumedAt > 0).map((c) => c.welcomeMs),
      attempts: armed.reduce((sum, c) => sum + c.attempts, 0),
      /** Per armed client: when its first reconnect attempt opened its socket, and how many it took. */
      firstAttemptAt: armed.map((c) => c.firstAttemptAt),
      attemptsEach: armed.map((c) => c.attempts),
      resumes: storm.resumes,
      resumesOther: storm.resumesOther,
      rebinds: storm.rebinds,
      notRecovered: storm.notRecovered,
      closeCodes: storm.closeCodes,
      finalCloses: storm.finalCloses,
      stray: storm.stray,
      disorder: storm.disorder,
      maxDelayMs: storm.maxDelayMs,
      samples: storm.samples,
    };
  },

  /**
   * Checks what each storm client received against what the sender sent (`last` number per target) and had accepted
   * (all but `rejected`): waits (at most `timeoutMs`) until every client has the last accepted message of its uid and
   * of its group, then counts accepted messages missing (lost), received twice (duplicates), received although not
   * accepted, and out of order.
   */
  stormVerify: async ({ last, rejected, timeoutMs }: { last: Record<string, number>; rejected: Record<string, number[]>; timeoutMs: number }) => {
    const rejectedSets = new Map(Object.entries(rejected).map(([to, seqs]) => [to, new Set(seqs)]));
    const lastAccepted = (to: string) => {
      const skip = rejectedSets.get(to);
      for (let seq = last[to] ?? 0; seq > 0; seq--) if (!skip?.has(seq)) return seq;
      return 0;
    };
    const expectedLast = new Map<string, number>();
    for (const to of Object.keys(last)) expectedLast.set(to, lastAccepted(to));
    const caughtUp = (c: StormClient) => {
      const ok = (to: string, seqs: number[]) => {
        const want = expectedLast.get(to) ?? 0;
        return want === 0 || (seqs.length > 0 && seqs[seqs.length - 1] >= want);
      };
      return ok(c.uid, c.uidSeqs) && ok(c.group, c.groupSeqs);
    };
    const started = nowMs();
    while (!stormClients.every(caughtUp) && nowMs() - started < timeoutMs) await new Promise((r) => setTimeout(r, 50));
    let lost = 0;
    let duplicates = 0;
    let unexpected = 0;
    let expected = 0;
    let received = 0;
    const problems: string[] = [];
    for (const c of stormClients) {
      for (const [to, seqs] of [[c.uid, c.uidSeqs], [c.group, c.groupSeqs]] as const) {
        const got = new Set(seqs);
        received += seqs.length;
        duplicates += seqs.length - got.size;
        const skip = rejectedSets.get(to);
        for (const seq of got) if (skip?.has(seq)) unexpected++;
        for (let seq = 1; seq <= (last[to] ?? 0); seq++) {
          if (skip?.has(seq)) continue;
          expected++;
          if (!got.has(seq)) {
            lost++;
            if (problems.length < 20) problems.push(`${c.uid}: ${to}#${seq} missing`);
          }
        }
      }
    }
    return {
      clients: stormClients.length,
      expected,
      received,
      lost,
      duplicates,
      unexpected,
      disorder: storm.disorder,
      stray: storm.stray,
      waitedMs: nowMs() - started,
      problems,
    };
  },

  close: () => {
    closing = true;
    for (const client of clients) client.close();
    return clients.length;
  },
});

dieOnUncaught('loadgen');
emit('ready', { pid: process.pid });

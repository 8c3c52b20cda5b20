/**
 * Load generator: holds up to ~4,500 client sockets (the orchestrator never gives one more), each bound to its
 * own source address range (127.0.0.2, .3, …) so the ~28k ephemeral ports per address never run out. Counts
 * receipts per client, records receive time and, when asked, latency from the `t` the sender put in the
 * payload; tells the orchestrator (`done` event) the moment the expected number of messages has arrived.
 *
 * Client kinds: `ours` (ws; ready on the init frame, which carries the client_id), `ws` (ready on open),
 * `socketio` (socket.io-client, websocket transport only, `forceNew`, no reconnection; ready on connect).
 */
import * as http from 'node:http';
import { WebSocket } from 'ws';
import { io, type Socket as SioSocket } from 'socket.io-client';
import { nowMs, pool } from './lib/common';
import { cookieHeader, postJson } from './lib/http-client';
import { dieOnUncaught, emit, guardChild, serve } from './lib/ipc';

guardChild();

type ClientKind = 'ours' | 'ws' | 'socketio';

interface Client {
  uid: string;
  clientId: string | null;
  received: number;
  /** `seq` of the last bench message received (burst order check), -1 before the first. */
  lastSeq: number;
  close(): void;
}

const SEQ_KEY = Buffer.from('"seq":');

/** The `seq` field of a bench message (a raw frame or socket.io's parsed object), or -1. */
function seqOf(data: unknown): number {
  if (Buffer.isBuffer(data)) {
    let i = data.indexOf(SEQ_KEY);
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

function record(client: Client, data: unknown): void {
  const now = nowMs();
  client.received++;
  const seq = seqOf(data);
  if (seq >= 0) {
    if (seq <= client.lastSeq) outOfOrder++;
    client.lastSeq = seq;
  }
  const c = counting;
  c.total++;
  if (c.firstAt === 0) c.firstAt = now;
  c.lastAt = now;
  if (c.latency) {
    const msg = (Buffer.isBuffer(data) || typeof data === 'string' ? JSON.parse(String(data)) : data) as {
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

function openWs(kind: 'ours' | 'ws', url: string, uid: string, localAddress: string, timeoutMs: number): Promise<Client> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url}?uid=${encodeURIComponent(uid)}`, {
      localAddress,
      perMessageDeflate: false,
      handshakeTimeout: timeoutMs,
    });
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
      ws.on('message', (data) => record(client, data));
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
    if (kind === 'ours') {
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

interface ConnectArgs {
  kind: ClientKind;
  url: string;
  count: number;
  uidStart: number;
  addresses: string[];
  perAddress: number;
  concurrency?: number;
  timeoutMs?: number;
}

serve({
  connect: async ({ kind, url, count, uidStart, addresses, perAddress, concurrency = 100, timeoutMs = 20_000 }: ConnectArgs) => {
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

  close: () => {
    closing = true;
    for (const client of clients) client.close();
    return clients.length;
  },
});

dieOnUncaught('loadgen');
emit('ready', { pid: process.pid });

/**
 * Reference 1: a bare `ws` server (the `ws` version @nestjs/platform-ws pins) on a `node:http` server, with the
 * obvious code: Maps uid → sockets and group → sockets, and `for (const c of clients) c.send(json)`.
 * Its `POST /send {uid, message}` is the HTTP-push reference: JSON body, Map lookup, send, `{"delivered": n}`
 * (no authentication, no validation beyond JSON: it is the floor, not a product).
 */
import { WebSocket, WebSocketServer } from 'ws';
import { benchMessage, groupsOf, nowMs } from '../lib/common';
import { announceReady, startControl } from './control';
import { createSendServer } from './send-endpoint';
import { guardChild } from '../lib/ipc';

guardChild();

const byUid = new Map<string, Set<WebSocket>>();
const byGroup = new Map<string, Set<WebSocket>>();
/** Each socket with the uid of its upgrade URL and what it is bound to. */
const sockets = new Map<WebSocket, { wanted: string; uid: string | null; groups: string[] }>();

function add(index: Map<string, Set<WebSocket>>, key: string, ws: WebSocket): void {
  let set = index.get(key);
  if (!set) index.set(key, (set = new Set()));
  set.add(ws);
}

function remove(index: Map<string, Set<WebSocket>>, key: string, ws: WebSocket): void {
  const set = index.get(key);
  if (!set) return;
  set.delete(ws);
  if (set.size === 0) index.delete(key);
}

const server = createSendServer((uid, message) => {
  const targets = typeof uid === 'string' ? byUid.get(uid) : undefined;
  if (!targets) return 0;
  const json = JSON.stringify({ type: 'message', from: 'bench-sender', data: message });
  let delivered = 0;
  for (const c of targets) {
    c.send(json);
    delivered++;
  }
  return delivered;
});

const wss = new WebSocketServer({ server, path: '/ws', perMessageDeflate: false, maxPayload: 16 * 1024 });
wss.on('connection', (ws, req) => {
  const wanted = new URL(req.url ?? '/', 'http://localhost').searchParams.get('uid') ?? '';
  const entry = { wanted, uid: null as string | null, groups: [] as string[] };
  sockets.set(ws, entry);
  ws.on('error', () => undefined);
  ws.on('close', () => {
    sockets.delete(ws);
    if (entry.uid) remove(byUid, entry.uid, ws);
    for (const group of entry.groups) remove(byGroup, group, ws);
  });
});

startControl('ws', {
  clients: () => sockets.size,
  bindAll: () => {
    let bound = 0;
    for (const [ws, entry] of sockets) {
      if (!entry.wanted || entry.uid) continue;
      entry.uid = entry.wanted;
      add(byUid, entry.uid, ws);
      entry.groups = groupsOf(entry.uid);
      for (const group of entry.groups) add(byGroup, group, ws);
      bound++;
    }
    return bound;
  },
  groupCount: ({ group }) => byGroup.get(group)?.size ?? 0,
  send: ({ group, count, bytes }) => {
    const t0 = nowMs();
    let delivered = 0;
    for (let seq = 0; seq < count; seq++) {
      const json = JSON.stringify(benchMessage(seq, nowMs(), bytes));
      const clients = byGroup.get(group) ?? new Set<WebSocket>();
      for (const c of clients) c.send(json);
      delivered += clients.size;
    }
    return { t0, issuedMs: nowMs() - t0, delivered };
  },
});

server.listen(0, '127.0.0.1', () => announceReady((server.address() as { port: number }).port));

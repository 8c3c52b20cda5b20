/**
 * Reference 2: socket.io 4 (websocket transport only), the usual way: rooms per uid and per group,
 * `io.to(room).emit(...)` broadcasts (the in-memory adapter encodes a broadcast once). Its `POST /send
 * {uid, message}` emits to the uid's room. Pings are moved out of the measuring windows (10 min), like ours.
 */
import { Server, type Socket } from 'socket.io';
import { benchMessage, groupsOf, nowMs } from '../lib/common';
import { announceReady, startControl } from './control';
import { createSendServer } from './send-endpoint';
import { guardChild } from '../lib/ipc';

guardChild();

const uidRoom = (uid: string) => `u:${uid}`;

const server = createSendServer((uid, message) => {
  if (typeof uid !== 'string') return 0;
  const room = uidRoom(uid);
  const delivered = io.of('/').adapter.rooms.get(room)?.size ?? 0;
  if (delivered) io.to(room).emit('message', { type: 'message', from: 'bench-sender', data: message });
  return delivered;
});

const io = new Server(server, {
  transports: ['websocket'],
  serveClient: false,
  perMessageDeflate: false,
  maxHttpBufferSize: 16 * 1024,
  pingInterval: 600_000,
  pingTimeout: 600_000,
});

const wanted = new Map<Socket, string>();
const bound = new WeakSet<Socket>();
io.on('connection', (socket) => {
  const uid = socket.handshake.query.uid;
  wanted.set(socket, typeof uid === 'string' ? uid : '');
  socket.on('disconnect', () => wanted.delete(socket));
});

startControl('socket.io', {
  clients: () => wanted.size,
  bindAll: async () => {
    let count = 0;
    for (const [socket, uid] of wanted) {
      if (!uid || bound.has(socket)) continue;
      bound.add(socket);
      await socket.join([uidRoom(uid), ...groupsOf(uid)]);
      count++;
    }
    return count;
  },
  groupCount: ({ group }) => io.of('/').adapter.rooms.get(group)?.size ?? 0,
  send: ({ group, count, bytes }) => {
    const t0 = nowMs();
    const members = io.of('/').adapter.rooms.get(group)?.size ?? 0;
    for (let seq = 0; seq < count; seq++) io.to(group).emit('m', benchMessage(seq, nowMs(), bytes));
    return { t0, issuedMs: nowMs() - t0, delivered: members * count };
  },
});

server.listen(0, '127.0.0.1', () => announceReady((server.address() as { port: number }).port));

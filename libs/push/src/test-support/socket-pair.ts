import type { Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { RawData, WebSocket, WebSocketServer } from 'ws';
import { tcpSocketOf } from '../local/socket-writer';

/*
 * Test helper: real WebSocket pairs over loopback, no mocks. Each pair is the server-side socket (what a
 * `LocalConnection` holds) and the client that talks to it, plus an inbox recording what the client saw.
 */

/** One thing the client saw: a frame, or the end of the connection. */
export type InboxEvent =
  | { kind: 'message'; data: Buffer; binary: boolean; text: string }
  | { kind: 'close'; code: number; reason: string };

/** Everything a client receives, in order, awaitable one event at a time. */
export class Inbox {
  private readonly events: InboxEvent[] = [];
  private readonly waiters: ((event: InboxEvent) => void)[] = [];
  private read = 0;

  constructor(client: WebSocket) {
    client.on('message', (data: RawData, binary: boolean) => {
      const buffer = toBuffer(data);
      this.push({ kind: 'message', data: buffer, binary, text: buffer.toString('utf8') });
    });
    client.on('close', (code: number, reason: Buffer) => this.push({ kind: 'close', code, reason: reason.toString() }));
  }

  /** The next event not read yet (waits for it when none is there). */
  next(): Promise<InboxEvent> {
    if (this.read < this.events.length) return Promise.resolve(this.events[this.read++]);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** The next event, which must be a frame. */
  async nextMessage(): Promise<Extract<InboxEvent, { kind: 'message' }>> {
    const event = await this.next();
    if (event.kind !== 'message') throw new Error(`expected a message, got a close (${event.code} ${event.reason})`);
    return event;
  }

  /** Skips frames until the close arrives, and returns it. */
  async closed(): Promise<Extract<InboxEvent, { kind: 'close' }>> {
    for (;;) {
      const event = await this.next();
      if (event.kind === 'close') return event;
    }
  }

  private push(event: InboxEvent): void {
    const waiter = this.waiters.shift();
    if (waiter) {
      this.read++;
      this.events.push(event);
      waiter(event);
    } else {
      this.events.push(event);
    }
  }
}

/** A connected pair of sockets. */
export interface SocketPair {
  /** The server-side socket, as the gateway would hand it to a `LocalConnection`. */
  server: WebSocket;
  /** The client connected to it. */
  client: WebSocket;
  /** What the client has received. */
  inbox: Inbox;
}

/** Pairs opened by {@link openSocketPairs}, and the function that tears them down. */
export interface SocketPairs {
  pairs: SocketPair[];
  /** Cuts every socket still open and stops the server; resolves when all of it is closed. */
  close(): Promise<void>;
}

/** How {@link openSocketPairs} sets up its sockets. */
export interface SocketPairOptions {
  /** Negotiate permessage-deflate on both sides (off by default, as in the gateway). */
  perMessageDeflate?: boolean;
}

/**
 * Starts a WebSocket server on 127.0.0.1, port 0, and connects `count` real clients to it. Each client asks for
 * its own path (`/0`, `/1`, …) so that every server-side socket is matched with its client whatever the order in
 * which the connections complete.
 */
export async function openSocketPairs(count: number, options: SocketPairOptions = {}): Promise<SocketPairs> {
  const perMessageDeflate = options.perMessageDeflate ?? false;
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate });
  await new Promise<void>((resolve, reject) => {
    wss.once('listening', resolve);
    wss.once('error', reject);
  });
  const { port } = wss.address() as AddressInfo;
  const accepted = new Map<number, WebSocket>();
  const acceptWaiters = new Map<number, (socket: WebSocket) => void>();
  wss.on('connection', (socket, request) => {
    socket.on('error', () => undefined);
    const index = Number((request.url ?? '').slice(1));
    const waiter = acceptWaiters.get(index);
    if (waiter) waiter(socket);
    else accepted.set(index, socket);
  });
  const accept = (index: number) =>
    new Promise<WebSocket>((resolve) => {
      const socket = accepted.get(index);
      if (socket) resolve(socket);
      else acceptWaiters.set(index, resolve);
    });

  const pairs = await Promise.all(
    Array.from({ length: count }, async (_, index): Promise<SocketPair> => {
      const client = new WebSocket(`ws://127.0.0.1:${port}/${index}`, { perMessageDeflate });
      client.on('error', () => undefined);
      const inbox = new Inbox(client);
      const [server] = await Promise.all([
        accept(index),
        new Promise<void>((resolve, reject) => {
          client.once('open', resolve);
          client.once('error', reject);
        }),
      ]);
      return { server, client, inbox };
    }),
  );

  return {
    pairs,
    close: async () => {
      const sockets = pairs.flatMap((pair) => [pair.server, pair.client]);
      await Promise.all(sockets.map(terminate));
      await new Promise<void>((resolve, reject) => wss.close((error) => (error ? reject(error) : resolve())));
    },
  };
}

/** Waits for a socket's `close` event (at once if it already closed). */
export function closeEvent(socket: WebSocket): Promise<void> {
  if (socket.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((resolve) => socket.once('close', () => resolve()));
}

/** The TCP socket under a `ws` socket (to pause a client's reads and fill the server's send queue). */
export function rawSocketOf(socket: WebSocket): Socket {
  const tcp = tcpSocketOf(socket);
  if (!tcp) throw new Error('this ws socket has no TCP socket');
  return tcp;
}

/**
 * Sends `marker` straight on the server socket and returns the text of every frame the client received before
 * it. Frames on one socket arrive in order, so this proves what was — and was not — delivered without waiting
 * for a quiet period.
 */
export async function receivedBefore(pair: SocketPair, marker = '\u0000end-of-test\u0000'): Promise<string[]> {
  pair.server.send(marker);
  const texts: string[] = [];
  for (;;) {
    const { text } = await pair.inbox.nextMessage();
    if (text === marker) return texts;
    texts.push(text);
  }
}

function terminate(socket: WebSocket): Promise<void> {
  const closed = closeEvent(socket);
  if (socket.readyState !== WebSocket.CLOSED) socket.terminate();
  return closed;
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

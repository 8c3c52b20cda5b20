import { readdirSync, readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { createClientId, createNodeId } from '../identity/client-id';
import { EncodedMessage } from '../message/encoded-message';
import { openSocketPairs, rawSocketOf, receivedBefore, SocketPairs } from '../test-support/socket-pair';
import { LocalConnection } from './local-connection';
import { controlFrameSize, SocketWriter, type SocketWriterOptions, type WsModuleLike } from './socket-writer';

/** The one warning channel of a writer, recorded. */
class RecordingLogger {
  readonly warnings: string[] = [];
  warn(message: string): void {
    this.warnings.push(message);
  }
}

/**
 * The frame a server must send for `payload` (RFC 6455 §5.2: FIN, opcode, unmasked length), written here from the
 * RFC rather than with ws, so the writer is checked against an independent encoder.
 */
function expectedFrame(opcode: number, payload: Buffer): Buffer {
  let header: Buffer;
  if (payload.length <= 125) {
    header = Buffer.from([0x80 | opcode, payload.length]);
  } else if (payload.length <= 0xffff) {
    header = Buffer.alloc(4);
    header[0] = 0x80 | opcode;
    header[1] = 126;
    header.writeUInt16BE(payload.length, 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = 0x80 | opcode;
    header[1] = 127;
    header.writeBigUInt64BE(BigInt(payload.length), 2);
  }
  return Buffer.concat([header, payload]);
}

/** Every byte the client's TCP socket receives from now on; `until(n)` resolves once `n` have arrived. */
function captureWire(client: WebSocket): { until(bytes: number): Promise<Buffer> } {
  const chunks: Buffer[] = [];
  let total = 0;
  let waiter: { bytes: number; resolve: (data: Buffer) => void } | null = null;
  rawSocketOf(client).on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    total += chunk.length;
    if (waiter && total >= waiter.bytes) waiter.resolve(Buffer.concat(chunks));
  });
  return {
    until: (bytes) =>
      total >= bytes
        ? Promise.resolve(Buffer.concat(chunks))
        : new Promise((resolve) => (waiter = { bytes, resolve })),
  };
}

/** Counts the write calls the server's net.Socket makes to the kernel (one per `_write` or `_writev`). */
function countWrites(socket: Socket): { write: number; writev: number } {
  const counts = { write: 0, writev: 0 };
  const tcp = socket as Socket & { _write: (...args: unknown[]) => void; _writev: (...args: unknown[]) => void };
  const write = tcp._write;
  const writev = tcp._writev;
  tcp._write = function (this: Socket, ...args: unknown[]) {
    counts.write++;
    return write.apply(this, args);
  };
  tcp._writev = function (this: Socket, ...args: unknown[]) {
    counts.writev++;
    return writev.apply(this, args);
  };
  return counts;
}

/**
 * The same real socket, seen through a view that hides one ws internal (as a ws release that renamed it would):
 * ws's own methods still run on the real socket, only the writer's reads see the gap.
 */
function hideInternal(socket: WebSocket, name: '_socket' | '_sender' | '_sender._state'): WebSocket {
  const view = (target: object, hidden: string, inner?: (value: object) => object): object =>
    new Proxy(target, {
      get(real, key) {
        if (key === hidden) return undefined;
        const value: unknown = Reflect.get(real, key, real);
        if (inner && key === '_sender') return inner(value as object);
        return typeof value === 'function' ? value.bind(real) : value;
      },
    });
  if (name === '_sender._state') return view(socket, '', (sender) => view(sender, '_state')) as WebSocket;
  return view(socket, name) as WebSocket;
}

const PAYLOADS: [string, EncodedMessage, number][] = [
  ['text', EncodedMessage.encode('héllo wörld'), 1],
  ['binary', EncodedMessage.encode(Buffer.from([0, 1, 2, 127, 128, 255])), 2],
  ['empty text', EncodedMessage.encode(''), 1],
  ['empty binary', EncodedMessage.encode(Buffer.alloc(0)), 2],
  ['126 bytes (16-bit length)', EncodedMessage.encode('x'.repeat(126)), 1],
  ['65536 bytes (64-bit length)', EncodedMessage.encode(Buffer.alloc(65536, 0xab)), 2],
  ['70000 bytes of JSON', EncodedMessage.encode({ big: 'y'.repeat(70000) }), 1],
];

describe('SocketWriter', () => {
  const nodeId = createNodeId();
  let sockets: SocketPairs | undefined;
  let logger: RecordingLogger;

  async function connect(count: number, options?: { perMessageDeflate?: boolean }) {
    sockets = await openSocketPairs(count, options);
    const conns = sockets.pairs.map((pair) => new LocalConnection(createClientId(nodeId), pair.server));
    return { pairs: sockets.pairs, conns };
  }

  function writer(options: Partial<SocketWriterOptions> = {}): SocketWriter {
    return new SocketWriter({ maxBufferedBytes: 1024 * 1024, logger, ...options });
  }

  /** A ws module without the frame builder, as a ws release that dropped it would look. */
  const wsWithoutFrame: WsModuleLike = { Sender: class {} };

  beforeEach(() => {
    logger = new RecordingLogger();
  });

  afterEach(async () => {
    await sockets?.close();
    sockets = undefined;
  });

  it('runs the fast path with the installed ws and warns about nothing', async () => {
    const w = writer();
    expect(w.mode).toBe('fast');
    const { conns } = await connect(1);
    w.write(conns[0], EncodedMessage.encode('hi'));
    expect(conns[0].wire).toEqual(expect.objectContaining({ corked: true }));
    w.flush();
    expect(conns[0].wire).toEqual(expect.objectContaining({ corked: false }));
    expect(logger.warnings).toEqual([]);
  });

  describe.each([
    ['fast', {}],
    ['public-api', { ws: wsWithoutFrame }],
  ] as const)('in %s mode', (mode, options) => {
    it('puts byte-exact frames on the wire: text, binary, empty, 16-bit and 64-bit lengths', async () => {
      const w = writer(options);
      expect(w.mode).toBe(mode);
      const { conns, pairs } = await connect(1);
      const wire = captureWire(pairs[0].client);
      const expected = Buffer.concat(PAYLOADS.map(([, message, opcode]) => expectedFrame(opcode, message.data)));
      for (const [, message] of PAYLOADS) w.write(conns[0], message);
      expect((await wire.until(expected.length)).equals(expected)).toBe(true);
      for (const [label, message] of PAYLOADS) {
        const received = await pairs[0].inbox.nextMessage();
        expect({ label, binary: received.binary, same: received.data.equals(message.data) }).toEqual({
          label,
          binary: message.binary,
          same: true,
        });
      }
    });

    it('sends pings and pongs in order with the frames around them', async () => {
      const w = writer(options);
      const { conns, pairs } = await connect(1);
      const wire = captureWire(pairs[0].client);
      const seen: string[] = [];
      pairs[0].client.on('ping', (data: Buffer) => seen.push(`ping:${data.toString()}`));
      pairs[0].client.on('pong', (data: Buffer) => seen.push(`pong:${data.toString()}`));
      pairs[0].client.on('message', (data: Buffer) => seen.push(`message:${data.toString()}`));
      w.write(conns[0], EncodedMessage.encode('a'));
      w.control(conns[0], 'ping', Buffer.from('p1'));
      w.control(conns[0], 'pong', Buffer.from('p2'));
      w.control(conns[0], 'ping');
      w.write(conns[0], EncodedMessage.encode('b'));
      const expected = Buffer.concat([
        expectedFrame(1, Buffer.from('a')),
        expectedFrame(9, Buffer.from('p1')),
        expectedFrame(10, Buffer.from('p2')),
        expectedFrame(9, Buffer.alloc(0)),
        expectedFrame(1, Buffer.from('b')),
      ]);
      expect((await wire.until(expected.length)).equals(expected)).toBe(true);
      expect(await receivedBefore(pairs[0])).toEqual(['a', 'b']);
      const marker = expect.stringMatching(/^message:/); // receivedBefore's own frame
      expect(seen).toEqual(['message:a', 'ping:p1', 'pong:p2', 'ping:', 'message:b', marker]);
    });

    it('answers fits against maxBufferedBytes, and refuses once a stopped reader fills the queue', async () => {
      const cap = 64 * 1024;
      const w = writer({ ...options, maxBufferedBytes: cap });
      const { conns, pairs } = await connect(1);
      const socket = conns[0].socket;
      expect(socket.bufferedAmount).toBe(0);
      expect(w.fits(socket, cap)).toBe(true);
      expect(w.fits(socket, cap + 1)).toBe(false);

      rawSocketOf(pairs[0].client).pause();
      const chunk = EncodedMessage.encode(Buffer.alloc(16 * 1024, 7));
      let written = 0;
      while (w.fits(socket, chunk.byteLength)) {
        w.write(conns[0], chunk);
        w.flush(); // hand it to the kernel now, as the turn's flush would: only what it refuses stays queued
        // The loopback buffers hold a few MiB at most; this bound only turns a regression into a failure.
        if (++written > 100_000) throw new Error('the send queue never passed the cap');
      }
      // Refused because the queue is nearly full, not before: the last chunk was accepted with room for it.
      expect(written).toBeGreaterThan(0);
      expect(socket.bufferedAmount).toBeGreaterThan(cap - 2 * chunk.byteLength);
      expect(socket.bufferedAmount + chunk.byteLength).toBeGreaterThan(cap);
      // Control frames count their header: a full-size ping needs 127 bytes of room.
      expect(controlFrameSize(Buffer.alloc(125))).toBe(127);
      expect(controlFrameSize()).toBe(2);
    });
  });

  describe('one syscall per socket per turn', () => {
    it('fast: several frames written in one turn leave in one writev per socket', async () => {
      const w = writer();
      const { conns, pairs } = await connect(2);
      const counts = pairs.map((pair) => countWrites(rawSocketOf(pair.server)));
      for (let n = 0; n < 10; n++) for (const conn of conns) w.write(conn, EncodedMessage.encode(`m${n}`));
      w.control(conns[0], 'ping');
      // Nothing has reached the kernel yet: every socket is corked until the turn's flush.
      expect(counts).toEqual([
        { write: 0, writev: 0 },
        { write: 0, writev: 0 },
      ]);
      for (const pair of pairs) {
        const texts = [];
        for (let n = 0; n < 10; n++) texts.push((await pair.inbox.nextMessage()).text);
        expect(texts).toEqual(['m0', 'm1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7', 'm8', 'm9']);
      }
      expect(counts).toEqual([
        { write: 0, writev: 1 },
        { write: 0, writev: 1 },
      ]);
    });

    it('public-api: the same writes are not coalesced (what the warning means by lower throughput)', async () => {
      const w = writer({ ws: wsWithoutFrame });
      const { conns, pairs } = await connect(1);
      const counts = countWrites(rawSocketOf(pairs[0].server));
      for (let n = 0; n < 10; n++) w.write(conns[0], EncodedMessage.encode(`m${n}`));
      expect(await receivedBefore(pairs[0])).toHaveLength(10);
      expect(counts.write + counts.writev).toBeGreaterThan(1);
    });
  });

  describe('start-up check and fallback', () => {
    it.each([
      ['WebSocket.Sender.frame', wsWithoutFrame],
      ['WebSocket.Sender.frame', {}],
      ['WebSocket.Sender.prototype.sendFrame', { Sender: Object.assign(class {}, { frame: () => [] }) }],
    ])('falls back to the public API, with one warning, when %s is missing', async (missing, ws) => {
      const w = writer({ ws });
      expect(w.mode).toBe('public-api');
      expect(logger.warnings).toHaveLength(1);
      expect(logger.warnings[0]).toContain(`ws internal ${missing} is missing`);
      expect(logger.warnings[0]).toContain('throughput is lower');

      const { conns, pairs } = await connect(2);
      for (const conn of conns) {
        w.write(conn, EncodedMessage.encode('still delivered'));
        w.control(conn, 'ping');
        expect(conn.wire).toBeNull();
      }
      for (const pair of pairs) expect(await receivedBefore(pair)).toEqual(['still delivered']);
      expect(logger.warnings).toHaveLength(1);
    });

    it('cannot frame without the frame builder, and says why', () => {
      const w = writer({ ws: wsWithoutFrame });
      expect(() => w.frame(EncodedMessage.encode('x'))).toThrow(/WebSocket.Sender.frame is missing/);
    });

    it.each([
      ['_socket', 'socket._socket.cork/uncork'],
      ['_sender', 'socket._sender.sendFrame'],
      ['_sender._state', 'socket._sender._state'],
    ] as const)(
      'checks each socket once: without %s it falls back for that socket and new ones, warned once',
      async (hidden, named) => {
        const w = writer();
        const { conns, pairs } = await connect(3);
        const [checked, hiding, later] = conns;
        w.write(checked, EncodedMessage.encode('fast'));
        const fastWire = checked.wire;
        expect(fastWire).not.toBeNull();

        const hidingConn = new LocalConnection(hiding.id, hideInternal(hiding.socket, hidden));
        const payload = EncodedMessage.encode(Buffer.alloc(300, 5));
        const wire = captureWire(pairs[1].client);
        w.write(hidingConn, payload);
        w.write(hidingConn, payload);
        expect(hidingConn.wire).toBeNull();
        expect(w.mode).toBe('public-api');
        expect(logger.warnings).toHaveLength(1);
        expect(logger.warnings[0]).toContain(`ws internal ${named} is missing`);
        const expected = Buffer.concat([expectedFrame(2, payload.data), expectedFrame(2, payload.data)]);
        expect((await wire.until(expected.length)).equals(expected)).toBe(true);

        // Sockets checked from now on use the public API without a second warning; the first keeps its fast path.
        w.write(later, EncodedMessage.encode('later'));
        expect(later.wire).toBeNull();
        w.write(checked, EncodedMessage.encode('fast again'));
        expect(checked.wire).toBe(fastWire);
        expect(logger.warnings).toHaveLength(1);
        expect(await receivedBefore(pairs[0])).toEqual(['fast', 'fast again']);
        expect(await receivedBefore(pairs[2])).toEqual(['later']);
      },
    );

    it('writes a socket with permessage-deflate through ws, without a warning (not a missing internal)', async () => {
      const w = writer();
      const { conns, pairs } = await connect(1, { perMessageDeflate: true });
      expect(conns[0].socket.extensions).toContain('permessage-deflate');
      w.write(conns[0], EncodedMessage.encode('z'.repeat(2000)));
      expect(conns[0].wire).toBeNull();
      expect(w.mode).toBe('fast');
      expect(logger.warnings).toEqual([]);
      expect((await pairs[0].inbox.nextMessage()).text).toBe('z'.repeat(2000));
    });
  });

  it('is the only file of the library that names a ws internal', () => {
    const root = join(__dirname, '..');
    const internal = /\b(_socket|_sender|_extensions|sendFrame|Sender)\b/;
    const offenders: string[] = [];
    const walk = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) walk(path);
        else if (/\.ts$/.test(entry.name) && !/\.spec\.ts$/.test(entry.name) && entry.name !== 'socket-writer.ts') {
          if (internal.test(readFileSync(path, 'utf8'))) offenders.push(path.slice(root.length + 1));
        }
      }
    };
    walk(root);
    expect(offenders).toEqual([]);
  });
});

import { randomBytes } from 'node:crypto';
import type { RawData, WebSocket } from 'ws';
import { openSocketPairs, type SocketPairs } from '../test-support/socket-pair';
import { releaseFrameBuffers } from './frame-buffers';

/** What ws's receiver keeps of a server-side socket's frames. */
function receiverOf(socket: WebSocket): { _mask?: Buffer; _buffers: Buffer[]; _bufferedBytes: number } {
  return (socket as unknown as { _receiver: { _mask?: Buffer; _buffers: Buffer[]; _bufferedBytes: number } })._receiver;
}

/** The mask ws's receiver keeps (undefined when none). */
function keptMask(socket: WebSocket): Buffer | undefined {
  return receiverOf(socket)._mask;
}

/** The next data frame the socket receives, as a Buffer. */
function nextMessage(socket: WebSocket): Promise<Buffer> {
  return new Promise((resolve) =>
    socket.once('message', (data: RawData) => resolve(Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer))),
  );
}

describe('releaseFrameBuffers', () => {
  let sockets: SocketPairs;

  beforeEach(async () => {
    sockets = await openSocketPairs(1);
  });
  afterEach(() => sockets.close());

  it('ws keeps the last frame\'s mask after its event, and its emptied chunk list (what this lets go of)', async () => {
    const { server, client } = sockets.pairs[0];
    const before = receiverOf(server)._buffers;
    const received = nextMessage(server);
    client.send('{"type":"hello"}');
    expect((await received).toString()).toBe('{"type":"hello"}');
    expect(keptMask(server)).toBeInstanceOf(Buffer);
    expect(keptMask(server)).toHaveLength(4);
    expect(receiverOf(server)._buffers).toBe(before);
    expect(receiverOf(server)._bufferedBytes).toBe(0);
  });

  it('swaps the chunk list for a new one only when nothing is buffered', async () => {
    const { server, client } = sockets.pairs[0];
    const lists: { same: boolean; length: number }[] = [];
    let twoIn!: () => void;
    const done = new Promise<void>((resolve) => (twoIn = resolve));
    server.on('message', () => {
      const list = receiverOf(server)._buffers;
      const buffered = receiverOf(server)._bufferedBytes;
      releaseFrameBuffers(server);
      lists.push({ same: receiverOf(server)._buffers === list, length: receiverOf(server)._buffers.length });
      if (buffered > 0) expect(receiverOf(server)._buffers).toBe(list);
      if (lists.length === 2) twoIn();
    });
    // Two frames in one write: the first one's event runs while the second is still buffered.
    const frame = (text: string) => {
      const payload = Buffer.from(text);
      const mask = randomBytes(4);
      const masked = Buffer.from(payload.map((byte, i) => byte ^ mask[i % 4]));
      return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]);
    };
    (client as unknown as { _socket: import('node:net').Socket })._socket.write(Buffer.concat([frame('one'), frame('two')]));
    await done;
    expect(lists).toEqual([
      { same: true, length: 1 },
      { same: false, length: 0 },
    ]);
  });

  it('drops it in the frame\'s handler, and every later frame (text, binary, fragmented, control) still arrives intact', async () => {
    const { server, client } = sockets.pairs[0];
    const masks: (Buffer | undefined)[] = [];
    const seen: Buffer[] = [];
    const pongs: Buffer[] = [];
    let allIn!: () => void;
    const done = new Promise<void>((resolve) => (allIn = resolve));
    const frames = 5;
    server.on('message', (data: RawData) => {
      releaseFrameBuffers(server);
      masks.push(keptMask(server));
      seen.push(Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer));
      if (masks.length === frames) allIn();
    });
    server.on('pong', (data: Buffer) => {
      releaseFrameBuffers(server);
      masks.push(keptMask(server));
      pongs.push(Buffer.from(data));
      if (masks.length === frames) allIn();
    });
    const big = randomBytes(200_000);
    const expected = [Buffer.from('{"type":"hello"}'), Buffer.from('second'), big, Buffer.from('fragmented whole')];
    client.send(expected[0]);
    client.send(expected[1]);
    client.send(big, { binary: true });
    client.send('fragmented ', { fin: false });
    client.send('whole', { fin: true });
    const pong = Buffer.from('pong payload');
    client.pong(pong);
    await done;
    expect(seen).toEqual(expected);
    expect(pongs).toEqual([pong]);
    expect(masks).toEqual([undefined, undefined, undefined, undefined, undefined]);
  });

  it('leaves a socket without a receiver alone', () => {
    expect(() => releaseFrameBuffers({} as WebSocket)).not.toThrow();
  });
});

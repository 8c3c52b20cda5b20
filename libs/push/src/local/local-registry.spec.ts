import { WebSocket } from 'ws';
import { createClientId, createNodeId } from '../identity/client-id';
import { EncodedMessage } from '../message/encoded-message';
import { PushMetrics } from '../push-metrics.service';
import { welcomeFrame, withEntry } from '../resume/push-protocol';
import { newResumeState } from '../resume/resume-handshake';
import { closeEvent, openSocketPairs, rawSocketOf, receivedBefore, SocketPair, SocketPairs } from '../test-support/socket-pair';
import { LocalConnection, type ServerCloseReason } from './local-connection';
import { LocalRegistry } from './local-registry';

describe('LocalRegistry', () => {
  const nodeId = createNodeId();
  let sockets: SocketPairs;
  let metrics: PushMetrics;
  let registry: LocalRegistry;

  /** Opens `count` real socket pairs (closed after the test) and wraps each server side in a connection. */
  async function connect(count: number): Promise<{ pairs: SocketPair[]; conns: LocalConnection[] }> {
    sockets = await openSocketPairs(count);
    const conns = sockets.pairs.map((pair) => new LocalConnection(createClientId(nodeId), pair.server));
    return { pairs: sockets.pairs, conns };
  }

  beforeEach(() => {
    metrics = new PushMetrics();
    registry = new LocalRegistry({ maxBufferedBytes: 1024 * 1024 }, metrics);
  });

  afterEach(async () => {
    await sockets?.close();
    sockets = undefined as unknown as SocketPairs;
  });

  describe('indexes', () => {
    it('adds and finds connections by client_id', async () => {
      const { conns } = await connect(2);
      const [a, b] = conns;
      registry.add(a);
      registry.add(b);
      expect(registry.size).toBe(2);
      expect(registry.get(a.id)).toBe(a);
      expect(registry.get(createClientId(nodeId))).toBeUndefined();
      expect([...registry.connections()]).toEqual([a, b]);
    });

    it('remove clears the uid and group indexes and returns the snapshot', async () => {
      const { conns } = await connect(2);
      const [a, b] = conns;
      registry.add(a);
      registry.add(b);
      a.session = { role: 'admin', nested: { n: 1 } };
      registry.setUid(a, 'u1');
      registry.setUid(b, 'u1');
      registry.join(a, 'g1');
      registry.join(a, 'g2');
      registry.join(b, 'g2');

      const info = registry.remove(a);
      expect(info).toEqual({ clientId: a.id, uid: 'u1', groups: ['g1', 'g2'], session: { role: 'admin', nested: { n: 1 } } });
      expect(info.session).not.toBe(a.session);
      expect(registry.get(a.id)).toBeUndefined();
      expect(registry.size).toBe(1);
      expect([...registry.connectionsOfUid('u1')!]).toEqual([b]);
      expect(registry.connectionsOfGroup('g1')).toBeUndefined();
      expect([...registry.connectionsOfGroup('g2')!]).toEqual([b]);
      expect([...registry.groups()]).toEqual(['g2']);
      expect(a.uid).toBeNull();
      expect(a.groups.size).toBe(0);

      registry.remove(b);
      expect(registry.size).toBe(0);
      expect(registry.uidCount).toBe(0);
      expect([...registry.uids()]).toEqual([]);
      expect([...registry.groups()]).toEqual([]);
    });

    it('remove is idempotent and leaves another connection with the same id alone', async () => {
      const { conns, pairs } = await connect(2);
      const [a] = conns;
      registry.add(a);
      registry.setUid(a, 'u');
      registry.remove(a);
      expect(registry.remove(a)).toEqual({ clientId: a.id, uid: null, groups: [], session: {} });

      const impostor = new LocalConnection(a.id, pairs[1].server);
      registry.add(impostor);
      registry.setUid(impostor, 'u');
      registry.remove(a);
      expect(registry.get(a.id)).toBe(impostor);
      expect([...registry.connectionsOfUid('u')!]).toEqual([impostor]);
    });

    it('setUid replaces the previous uid, returns it, and drops empty uid entries', async () => {
      const { conns } = await connect(1);
      const [a] = conns;
      registry.add(a);
      expect(registry.setUid(a, 'u1')).toBeNull();
      expect(a.uid).toBe('u1');
      expect(registry.setUid(a, 'u1')).toBe('u1');
      expect(registry.connectionsOfUid('u1')!.size).toBe(1);

      expect(registry.setUid(a, 'u2')).toBe('u1');
      expect(registry.connectionsOfUid('u1')).toBeUndefined();
      expect([...registry.connectionsOfUid('u2')!]).toEqual([a]);
      expect([...registry.uids()]).toEqual(['u2']);
      expect(registry.uidCount).toBe(1);

      expect(registry.setUid(a, null)).toBe('u2');
      expect(a.uid).toBeNull();
      expect(registry.uidCount).toBe(0);
      expect(registry.setUid(a, null)).toBeNull();
    });

    it('counts a uid once however many connections it has', async () => {
      const { conns } = await connect(3);
      for (const conn of conns) {
        registry.add(conn);
        registry.setUid(conn, 'same');
      }
      expect(registry.uidCount).toBe(1);
      expect(registry.connectionsOfUid('same')!.size).toBe(3);
    });

    it('join and leave are idempotent and drop a group once it empties', async () => {
      const { conns } = await connect(2);
      const [a, b] = conns;
      registry.add(a);
      registry.add(b);
      expect(registry.join(a, 'g')).toBe(true);
      expect(registry.join(a, 'g')).toBe(false);
      expect(registry.join(b, 'g')).toBe(true);
      expect(registry.connectionsOfGroup('g')!.size).toBe(2);
      expect([...a.groups]).toEqual(['g']);

      expect(registry.leave(a, 'g')).toBe(true);
      expect(registry.leave(a, 'g')).toBe(false);
      expect(registry.leave(a, 'other')).toBe(false);
      expect([...registry.connectionsOfGroup('g')!]).toEqual([b]);
      expect(registry.leave(b, 'g')).toBe(true);
      expect(registry.connectionsOfGroup('g')).toBeUndefined();
      expect([...registry.groups()]).toEqual([]);
    });

    it('dropGroup returns the members and removes the group from each of them', async () => {
      const { conns } = await connect(2);
      const [a, b] = conns;
      registry.add(a);
      registry.add(b);
      registry.join(a, 'g');
      registry.join(b, 'g');
      registry.join(a, 'keep');

      expect(registry.dropGroup('g')).toEqual([a, b]);
      expect(registry.connectionsOfGroup('g')).toBeUndefined();
      expect([...a.groups]).toEqual(['keep']);
      expect([...b.groups]).toEqual([]);
      expect([...registry.groups()]).toEqual(['keep']);
      expect(registry.dropGroup('g')).toEqual([]);
      expect(registry.dropGroup('never')).toEqual([]);
    });

    it('describe returns a detached snapshot', async () => {
      const { conns } = await connect(1);
      const [a] = conns;
      registry.add(a);
      registry.join(a, 'g');
      a.session = { deep: { value: 1 } };
      const info = registry.describe(a);
      (info.session.deep as { value: number }).value = 2;
      info.groups.push('x');
      expect(a.session).toEqual({ deep: { value: 1 } });
      expect([...a.groups]).toEqual(['g']);
    });
  });

  describe('write and deliver', () => {
    it('writes text and binary frames and counts them', async () => {
      const { conns, pairs } = await connect(1);
      const [a] = conns;
      expect(registry.write(a, EncodedMessage.encode({ hello: 'world' }))).toBe(true);
      expect(registry.write(a, EncodedMessage.encode(Buffer.from([1, 2, 3])))).toBe(true);
      const text = await pairs[0].inbox.nextMessage();
      expect(text.binary).toBe(false);
      expect(text.text).toBe('{"hello":"world"}');
      const binary = await pairs[0].inbox.nextMessage();
      expect(binary.binary).toBe(true);
      expect([...binary.data]).toEqual([1, 2, 3]);
      expect(metrics.framesDelivered).toBe(2);
    });

    it('deliver counts recipients, skips excluded ids and sockets that are not open', async () => {
      const { conns, pairs } = await connect(4);
      const [a, b, closing, closed] = conns;

      pairs[3].client.close();
      await closeEvent(pairs[3].server);
      expect(closed.socket.readyState).toBe(WebSocket.CLOSED);
      pairs[2].server.close();
      expect(closing.socket.readyState).toBe(WebSocket.CLOSING);

      const delivered = registry.deliver(conns, EncodedMessage.encode('hi'), new Set([b.id]));
      expect(delivered).toEqual({ delivered: 1, held: 0, deferred: 0 });
      expect(metrics.framesDelivered).toBe(1);
      expect(await receivedBefore(pairs[0])).toEqual(['hi']);
      expect(await receivedBefore(pairs[1])).toEqual([]);
      expect(await pairs[2].inbox.next()).toMatchObject({ kind: 'close' });

      expect(registry.deliver([a, b], EncodedMessage.encode('again'), null)).toEqual({ delivered: 2, held: 0, deferred: 0 });
      expect(registry.deliver([], EncodedMessage.encode('nobody'))).toEqual({ delivered: 0, held: 0, deferred: 0 });
      expect(metrics.framesDelivered).toBe(3);
      expect(await receivedBefore(pairs[0])).toEqual(['again']);
      expect(await receivedBefore(pairs[1])).toEqual(['again']);
    });

    it('drops a slow consumer with 1013 once its queue passes maxBufferedBytes', async () => {
      registry = new LocalRegistry({ maxBufferedBytes: 64 * 1024 }, metrics);
      const { conns, pairs } = await connect(1);
      const [conn] = conns;
      const [pair] = pairs;
      registry.add(conn);
      rawSocketOf(pair.client).pause();

      const chunk = EncodedMessage.encode(Buffer.alloc(16 * 1024, 7));
      let written = 0;
      while (registry.write(conn, chunk)) {
        written++;
        // The loopback buffers hold a few MiB at most; this bound only turns a regression into a failure.
        if (written > 100_000) throw new Error('the send queue never passed the cap');
      }
      expect(metrics.slowConsumerDrops).toBe(1);
      expect(metrics.framesDelivered).toBe(written);
      expect(conn.closedBy).toEqual({ reason: 'slow-consumer', code: 1013 });
      expect(conn.socket.readyState).toBe(WebSocket.CLOSING);
      // Once closing, nothing more is queued and the drop is not counted twice.
      expect(registry.write(conn, chunk)).toBe(false);
      expect(metrics.slowConsumerDrops).toBe(1);

      const serverClosed = closeEvent(pair.server);
      rawSocketOf(pair.client).resume();
      await serverClosed;
      const close = await pair.inbox.closed();
      expect(close).toEqual({ kind: 'close', code: 1013, reason: 'slow-consumer' });
    });

    it('reports slow-consumer (1013), not the requested close, when the final message trips the cap', async () => {
      registry = new LocalRegistry({ maxBufferedBytes: 64 * 1024 }, metrics);
      const { conns, pairs } = await connect(1);
      const [conn] = conns;
      registry.add(conn);
      rawSocketOf(pairs[0].client).pause();
      const chunk = EncodedMessage.encode(Buffer.alloc(16 * 1024, 7));
      // Fill the queue to just under the cap (the kernel takes a few MiB first, ws queues the rest).
      while (conn.socket.bufferedAmount + 2 * chunk.byteLength <= 64 * 1024 || conn.socket.bufferedAmount === 0) {
        if (!registry.write(conn, chunk)) throw new Error('dropped before the final message');
      }
      const final = EncodedMessage.encode(Buffer.alloc(48 * 1024, 1));
      expect(registry.close(conn, 1000, 'closed-by-server', final)).toBe(true);
      expect(conn.closedBy).toEqual({ reason: 'slow-consumer', code: 1013 });
      expect(metrics.slowConsumerDrops).toBe(1);
      const serverClosed = closeEvent(pairs[0].server);
      rawSocketOf(pairs[0].client).resume();
      await serverClosed;
    });

    it('does not write to a socket that is already closed', async () => {
      const { conns, pairs } = await connect(1);
      pairs[0].client.close();
      await closeEvent(pairs[0].server);
      expect(registry.write(conns[0], EncodedMessage.encode('late'))).toBe(false);
      expect(metrics.framesDelivered).toBe(0);
      expect(metrics.slowConsumerDrops).toBe(0);
    });
  });

  describe('close and destroy', () => {
    it('close flushes the final message before the close frame', async () => {
      const { conns, pairs } = await connect(1);
      const [conn] = conns;
      registry.write(conn, EncodedMessage.encode('queued'));
      expect(registry.close(conn, 1000, 'closed-by-server', EncodedMessage.encode({ type: 'bye' }))).toBe(true);
      expect(conn.closedBy).toEqual({ reason: 'closed-by-server', code: 1000 });
      expect(registry.close(conn, 1000, 'closed-by-server')).toBe(false);

      const inbox = pairs[0].inbox;
      expect(await inbox.next()).toMatchObject({ kind: 'message', text: 'queued' });
      expect(await inbox.next()).toMatchObject({ kind: 'message', text: '{"type":"bye"}' });
      expect(await inbox.next()).toEqual({ kind: 'close', code: 1000, reason: 'closed-by-server' });
      await closeEvent(pairs[0].server);
      expect(metrics.framesDelivered).toBe(2);
    });

    it('close keeps the first reason it recorded', async () => {
      const { conns, pairs } = await connect(1);
      const [conn] = conns;
      conn.closedBy = { reason: 'heartbeat', code: 1001 };
      expect(registry.close(conn, 1000, 'shutdown')).toBe(true);
      expect(conn.closedBy).toEqual({ reason: 'heartbeat', code: 1001 });
      expect(await pairs[0].inbox.closed()).toEqual({ kind: 'close', code: 1000, reason: 'shutdown' });
    });

    it('destroy cuts the socket at once', async () => {
      const { conns, pairs } = await connect(1);
      const [conn] = conns;
      expect(registry.destroy(conn)).toBe(true);
      expect(conn.closedBy).toEqual({ reason: 'destroyed', code: 1006 });
      expect(await pairs[0].inbox.next()).toEqual({ kind: 'close', code: 1006, reason: '' });
      await closeEvent(pairs[0].server);
      expect(registry.destroy(conn)).toBe(false);
      expect(registry.close(conn, 1000, 'closed-by-server')).toBe(false);
    });

    it('destroy can cut a socket whose close handshake is pending', async () => {
      const { conns, pairs } = await connect(1);
      const [conn] = conns;
      rawSocketOf(pairs[0].client).pause();
      registry.close(conn, 1001, 'shutdown');
      expect(registry.destroy(conn, 'shutdown', 1006)).toBe(true);
      expect(conn.closedBy).toEqual({ reason: 'shutdown', code: 1001 });
      await closeEvent(pairs[0].server);
    });
  });

  describe('fan-out queue', () => {
    it('splits a fan-out larger than fanoutChunk over turns, keeps per-socket order, and counts', async () => {
      registry = new LocalRegistry({ maxBufferedBytes: 1024 * 1024, fanoutChunk: 2 }, metrics);
      const { conns, pairs } = await connect(5);
      conns.forEach((c) => registry.add(c));
      const big = registry.deliver(new Set(conns), EncodedMessage.encode('first'));
      expect(big).toBeInstanceOf(Promise);
      expect(registry.idle).toBe(false);
      // A single send issued while the fan-out is in flight waits behind it.
      const single = registry.deliver([conns[4]], EncodedMessage.encode('second'));
      expect(await big).toEqual({ delivered: 5, held: 0, deferred: 0 });
      expect(await single).toEqual({ delivered: 1, held: 0, deferred: 0 });
      expect(registry.idle).toBe(true);
      for (const pair of pairs.slice(0, 4)) expect((await pair.inbox.nextMessage()).text).toBe('first');
      expect((await pairs[4].inbox.nextMessage()).text).toBe('first');
      expect((await pairs[4].inbox.nextMessage()).text).toBe('second');
    });

    it('merges back-to-back sends to the same unchanged audience, and not once it changed', async () => {
      registry = new LocalRegistry({ maxBufferedBytes: 1024 * 1024, fanoutChunk: 1 }, metrics);
      const { conns, pairs } = await connect(3);
      conns.forEach((c) => registry.add(c));
      registry.join(conns[0], 'g');
      registry.join(conns[1], 'g');
      const group = registry.connectionsOfGroup('g')!;
      const sends = [1, 2, 3].map((n) => registry.deliver(group, EncodedMessage.encode(`m${n}`)));
      registry.join(conns[2], 'g'); // joins after m1..m3 were accepted: it must get m4 only
      sends.push(registry.deliver(group, EncodedMessage.encode('m4')));
      expect((await Promise.all(sends)).map((count) => count.delivered)).toEqual([2, 2, 2, 3]);
      for (const pair of pairs.slice(0, 2)) {
        const texts = [];
        for (let i = 0; i < 4; i++) texts.push((await pair.inbox.nextMessage()).text);
        expect(texts).toEqual(['m1', 'm2', 'm3', 'm4']);
      }
      expect((await pairs[2].inbox.nextMessage()).text).toBe('m4');
    });

    it('a closeClient issued during a fan-out closes after the pushes already accepted', async () => {
      registry = new LocalRegistry({ maxBufferedBytes: 1024 * 1024, fanoutChunk: 1 }, metrics);
      const { conns, pairs } = await connect(3);
      conns.forEach((c) => registry.add(c));
      const pushed = registry.deliver(new Set(conns), EncodedMessage.encode('news'));
      expect(registry.close(conns[2], 1000, 'closed-by-server', EncodedMessage.encode('bye'))).toBe(true);
      expect(await pushed).toEqual({ delivered: 3, held: 0, deferred: 0 });
      expect((await pairs[2].inbox.nextMessage()).text).toBe('news');
      expect((await pairs[2].inbox.nextMessage()).text).toBe('bye');
      expect(await pairs[2].inbox.closed()).toMatchObject({ code: 1000 });
    });

    it('writes the same framed bytes to every socket (framed once)', async () => {
      expect(registry.writeMode).toBe('fast');
      const { conns, pairs } = await connect(2);
      const message = EncodedMessage.encode({ once: true });
      expect(registry.deliver(conns, message)).toEqual({ delivered: 2, held: 0, deferred: 0 });
      // The delivery built the frame and kept it: asking again must not build another.
      const frame = message.framedBy(() => {
        throw new Error('framed a second time');
      });
      expect(frame.subarray(2).toString()).toBe('{"once":true}');
      for (const pair of pairs) expect((await pair.inbox.nextMessage()).text).toBe('{"once":true}');
    });
  });

  describe('resumable connections', () => {
    const key = 'g:room';
    const epoch = '3f9a2c1b0d4e';

    /** `text` as pushed to the target `key`, at offset n of its history. */
    const pushed = (text: string, n: number, historyKey = key, historyEpoch = epoch) =>
      withEntry(EncodedMessage.encode(text), historyKey, { epoch: historyEpoch, n });
    /** What a resumable connection receives for `pushed(text, n)`. */
    const envelope = (text: string, n: number, historyKey = key, historyEpoch = epoch) =>
      `{"type":"msg","key":"${historyKey}","off":"${historyEpoch}.${n}"}\n${text}`;

    /** An established resumable connection: its welcome was written. */
    function makeResumable(conn: LocalConnection): void {
      conn.resume = { ...newResumeState().state, pending: null, issued: true };
    }

    function detach(conn: LocalConnection, ended: ServerCloseReason[] = []): void {
      registry.detach(conn, Date.now() + 60_000, (reason) => ended.push(reason));
    }

    /**
     * A resumable connection that dropped and was given a second socket (`pairs[1]`), its welcome not yet released;
     * `ended` records how a detached end reports.
     */
    async function reattachedToSecondSocket(ended: ServerCloseReason[] = []) {
      const { conns, pairs } = await connect(2);
      const [conn] = conns;
      makeResumable(conn);
      registry.add(conn);
      detach(conn, ended);
      registry.reattach(conn, pairs[1].server);
      return { conn, pairs };
    }

    afterEach(() => {
      // Clears the expiry timers of connections still detached.
      for (const conn of [...registry.connections()]) registry.remove(conn);
    });

    it('writes an app message to a resumable connection in its envelope and to a plain one as it is', async () => {
      const { conns, pairs } = await connect(2);
      const [resumable, plain] = conns;
      makeResumable(resumable);
      registry.add(resumable);
      registry.add(plain);
      expect(registry.resumableCount).toBe(1);

      expect(registry.deliver(conns, EncodedMessage.encode('hi'))).toEqual({ delivered: 2, held: 0, deferred: 0 });
      const json = withEntry(EncodedMessage.encode({ n: 1 }), key, { epoch, n: 7 });
      expect(registry.deliver(conns, json)).toEqual({ delivered: 2, held: 0, deferred: 0 });

      expect(await receivedBefore(pairs[0])).toEqual([
        '{"type":"msg"}\nhi',
        `{"type":"msg","key":"${key}","off":"${epoch}.7","json":1}\n{"n":1}`,
      ]);
      expect(await receivedBefore(pairs[1])).toEqual(['hi', '{"n":1}']);
    });

    it('holds for a detached connection what has a history entry, drops the rest, and writes it nothing', async () => {
      const { conns, pairs } = await connect(1);
      const [conn] = conns;
      makeResumable(conn);
      registry.add(conn);
      detach(conn);
      expect(registry.isDetached(conn)).toBe(true);

      expect(registry.deliver([conn], pushed('kept', 1))).toEqual({ delivered: 0, held: 1, deferred: 0 });
      expect(registry.deliver([conn], EncodedMessage.encode('lost'))).toEqual({ delivered: 0, held: 0, deferred: 0 });
      expect(metrics.framesDelivered).toBe(0);
      // Its bindings stay while it is away.
      expect(registry.get(conn.id)).toBe(conn);
      expect(await receivedBefore(pairs[0])).toEqual([]);
    });

    it('collects deliveries while resuming, writes the welcome first, and drops what the replay covered', async () => {
      const { conns, pairs } = await connect(2);
      const [conn] = conns;
      const [oldPair, newPair] = pairs;
      const { state, secret } = newResumeState();
      conn.resume = state;
      registry.add(conn);
      detach(conn);
      registry.deliver([conn], pushed('m1', 1));

      registry.reattach(conn, newPair.server);
      expect(registry.isDetached(conn)).toBe(false);
      expect(conn.socket).toBe(newPair.server);
      // Counted as delivered: the release writes them next.
      const collected = [pushed('m1', 1), pushed('m2', 2), pushed('other', 5, 'a', 'e9'), EncodedMessage.encode('bare')];
      for (const message of collected) {
        expect(registry.deliver([conn], message)).toEqual({ delivered: 1, held: 0, deferred: 0 });
      }
      expect(await receivedBefore(newPair)).toEqual([]);

      const welcome = welcomeFrame({
        clientId: conn.id,
        token: `${conn.id}.${secret}`,
        heartbeat: 0,
        window: 60_000,
        resume: { resumed: true, recovered: true, previousClientId: conn.id },
      });
      expect(await registry.release(conn, newPair.server, () => registry.write(conn, welcome), new Map([[key, { epoch, n: 2 }]]))).toBe(true);
      // A live copy that trails the history read is a duplicate too; the first one past the replay is not.
      expect(registry.deliver([conn], pushed('m2', 2))).toEqual({ delivered: 1, held: 0, deferred: 0 });
      registry.deliver([conn], pushed('m3', 3));
      registry.deliver([conn], pushed('m4', 4));

      expect(await receivedBefore(newPair)).toEqual([
        welcome.data.toString(),
        envelope('other', 5, 'a', 'e9'),
        '{"type":"msg"}\nbare',
        envelope('m3', 3),
        envelope('m4', 4),
      ]);
      expect(await receivedBefore(oldPair)).toEqual([]);
      expect(metrics.framesDelivered).toBe(5);
    });

    it('drops collected frames up to the replayed offset and writes the first one past it', async () => {
      const { conn, pairs } = await reattachedToSecondSocket();
      for (const n of [1, 2, 3]) registry.deliver([conn], pushed(`m${n}`, n));
      const welcome = () => registry.write(conn, EncodedMessage.encode({ type: 'welcome' }));
      await registry.release(conn, pairs[1].server, welcome, new Map([[key, { epoch, n: 2 }]]));
      expect(await receivedBefore(pairs[1])).toEqual(['{"type":"welcome"}', envelope('m3', 3)]);
    });

    it("a fresh connection's welcome allocates no sequence map (created on its first message: memory per socket)", async () => {
      const { conns, pairs } = await connect(1);
      const [conn] = conns;
      conn.resume = newResumeState().state; // waiting for its welcome
      registry.add(conn);
      expect(await registry.release(conn, pairs[0].server, () => undefined, new Map())).toBe(true);
      expect(conn.resume.sent).toBeNull();
    });

    it('treats a frame of another epoch of a replayed history as new', async () => {
      const { conn, pairs } = await reattachedToSecondSocket();
      await registry.release(conn, pairs[1].server, () => undefined, new Map([[key, { epoch, n: 5 }]]));
      registry.deliver([conn], pushed('restarted', 1, key, 'aaaaaaaaaaaa'));
      expect(await receivedBefore(pairs[1])).toEqual([envelope('restarted', 1, key, 'aaaaaaaaaaaa')]);
    });

    it('endDetached ends a detached connection once, with its reason', async () => {
      const { conns } = await connect(2);
      const [conn, plain] = conns;
      makeResumable(conn);
      registry.add(conn);
      registry.add(plain);
      const ended: ServerCloseReason[] = [];
      expect(registry.endDetached(conn, 'closed-by-server')).toBe(false);

      detach(conn, ended);
      expect(registry.endDetached(conn, 'closed-by-server')).toBe(true);
      expect(registry.endDetached(conn, 'resume-expired')).toBe(false);
      expect(ended).toEqual(['closed-by-server']);
      expect(registry.endDetached(plain, 'closed-by-server')).toBe(false);
    });

    it('a reattached connection can no longer be ended as detached', async () => {
      const ended: ServerCloseReason[] = [];
      const { conn } = await reattachedToSecondSocket(ended);
      expect(registry.endDetached(conn, 'closed-by-server')).toBe(false);
      expect(ended).toEqual([]);
    });

    it('ends a detached connection with resume-expired when its window passes', async () => {
      const { conns } = await connect(1);
      const [conn] = conns;
      makeResumable(conn);
      registry.add(conn);
      const ended = new Promise<ServerCloseReason>((resolve) => registry.detach(conn, Date.now(), resolve));
      expect(await ended).toBe('resume-expired');
      expect(registry.endDetached(conn, 'closed-by-server')).toBe(false);
    });
  });
});

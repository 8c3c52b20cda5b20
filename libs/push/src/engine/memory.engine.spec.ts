import { PushClientNotFoundError } from '../errors/push.errors';
import { createClientId, isNodeId, nodeIdOf } from '../identity/client-id';
import { LocalConnection } from '../local/local-connection';
import { LocalRegistry } from '../local/local-registry';
import { EncodedMessage } from '../message/encoded-message';
import { PushMetrics } from '../push-metrics.service';
import { closeEvent, openSocketPairs, receivedBefore, SocketPair, SocketPairs } from '../test-support/socket-pair';
import { MemoryEngine } from './memory.engine';

describe('MemoryEngine', () => {
  let sockets: SocketPairs | undefined;
  let metrics: PushMetrics;
  let registry: LocalRegistry;
  let engine: MemoryEngine;

  /** Opens `count` real socket pairs and registers a connection for each server side. */
  async function connect(count: number): Promise<{ pairs: SocketPair[]; conns: LocalConnection[] }> {
    sockets = await openSocketPairs(count);
    const conns: LocalConnection[] = [];
    for (const pair of sockets.pairs) {
      const conn = new LocalConnection(createClientId(engine.nodeId), pair.server);
      await engine.register(conn);
      conns.push(conn);
    }
    return { pairs: sockets.pairs, conns };
  }

  const msg = (text: string) => EncodedMessage.encode(text);
  const unknownId = () => createClientId(engine.nodeId);

  beforeEach(async () => {
    metrics = new PushMetrics();
    registry = new LocalRegistry({ maxBufferedBytes: 1024 * 1024 }, metrics);
    engine = new MemoryEngine();
    await engine.init({ registry, metrics });
  });

  afterEach(async () => {
    await sockets?.close();
    sockets = undefined;
    await engine.close();
  });

  it('has a node id that prefixes the client_ids made from it', () => {
    expect(isNodeId(engine.nodeId)).toBe(true);
    expect(nodeIdOf(createClientId(engine.nodeId))).toBe(engine.nodeId);
  });

  describe('register / unregister', () => {
    it('registers with an initial uid and a copy of the initial session', async () => {
      sockets = await openSocketPairs(1);
      const conn = new LocalConnection(createClientId(engine.nodeId), sockets.pairs[0].server);
      const session = { plan: 'pro', prefs: { dark: true } };
      await engine.register(conn, { uid: 'alice', session });
      session.prefs.dark = false;

      expect(registry.get(conn.id)).toBe(conn);
      expect(await engine.getClients([conn.id])).toEqual([
        { clientId: conn.id, uid: 'alice', groups: [], session: { plan: 'pro', prefs: { dark: true } } },
      ]);
      expect(await engine.getClientIdsByUids(['alice'])).toEqual([[conn.id]]);
    });

    it('registers without a binding', async () => {
      sockets = await openSocketPairs(1);
      const conn = new LocalConnection(createClientId(engine.nodeId), sockets.pairs[0].server);
      await engine.register(conn, { uid: null });
      expect(await engine.getClients([conn.id])).toEqual([{ clientId: conn.id, uid: null, groups: [], session: {} }]);
      expect(await engine.countUids()).toBe(0);
    });

    it('unregister returns what the connection had and forgets it', async () => {
      const { conns } = await connect(1);
      const [a] = conns;
      await engine.bindUid(a.id, 'u');
      await engine.joinGroup(a.id, 'g');
      await engine.setSession(a.id, { k: 1 });
      expect(await engine.unregister(a)).toEqual({ clientId: a.id, uid: 'u', groups: ['g'], session: { k: 1 } });
      expect(await engine.getClients([a.id])).toEqual([null]);
      expect(await engine.countClients()).toBe(0);
      expect(await engine.getAllUids()).toEqual([]);
      expect(await engine.getAllGroups()).toEqual([]);
    });
  });

  describe('bindings of an unknown client_id', () => {
    it.each([
      ['bindUid', (e: MemoryEngine, id: string) => e.bindUid(id, 'u')],
      ['unbindUid', (e: MemoryEngine, id: string) => e.unbindUid(id)],
      ['joinGroup', (e: MemoryEngine, id: string) => e.joinGroup(id, 'g')],
      ['leaveGroup', (e: MemoryEngine, id: string) => e.leaveGroup(id, 'g')],
      ['setSession', (e: MemoryEngine, id: string) => e.setSession(id, {})],
      ['updateSession', (e: MemoryEngine, id: string) => e.updateSession(id, { a: 1 })],
    ])('%s rejects with PushClientNotFoundError', async (_name, call) => {
      const id = unknownId();
      const error = await call(engine, id).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(PushClientNotFoundError);
      expect(error).toMatchObject({ clientId: id, code: 'client_not_found' });
      expect((error as PushClientNotFoundError).getStatus()).toBe(404);
    });
  });

  describe('bindings', () => {
    it('bindUid replaces, unbindUid removes, both are idempotent', async () => {
      const { conns } = await connect(1);
      const [a] = conns;
      await engine.bindUid(a.id, 'u1');
      await engine.bindUid(a.id, 'u1');
      await engine.bindUid(a.id, 'u2');
      expect(await engine.getAllUids()).toEqual(['u2']);
      expect(await engine.countClientsByUids(['u1', 'u2'])).toEqual([0, 1]);
      await engine.unbindUid(a.id);
      await engine.unbindUid(a.id);
      expect(await engine.getAllUids()).toEqual([]);
      expect((await engine.getClients([a.id]))[0]!.uid).toBeNull();
    });

    it('joinGroup and leaveGroup are idempotent', async () => {
      const { conns } = await connect(1);
      const [a] = conns;
      await engine.joinGroup(a.id, 'g');
      await engine.joinGroup(a.id, 'g');
      expect(await engine.countClientsByGroups(['g'])).toEqual([1]);
      await engine.leaveGroup(a.id, 'g');
      await engine.leaveGroup(a.id, 'g');
      await engine.leaveGroup(a.id, 'never-joined');
      expect(await engine.getAllGroups()).toEqual([]);
    });

    it('ungroup returns the member count and empties the group, leaving the members connected', async () => {
      const { conns, pairs } = await connect(3);
      const [a, b, c] = conns;
      await engine.joinGroup(a.id, 'g');
      await engine.joinGroup(b.id, 'g');
      await engine.joinGroup(b.id, 'other');
      await engine.joinGroup(c.id, 'other');

      expect(await engine.ungroup('g')).toBe(2);
      expect(await engine.getClientIdsByGroups(['g'])).toEqual([[]]);
      expect(await engine.getAllGroups()).toEqual(['other']);
      expect((await engine.getClients([a.id, b.id])).map((info) => info!.groups)).toEqual([[], ['other']]);
      expect(await engine.ungroup('g')).toBe(0);
      expect(await engine.sendToGroups(['g'], msg('to g'), null)).toEqual({ delivered: 0, held: 0 });
      expect(await engine.countClients()).toBe(3);
      expect(await receivedBefore(pairs[0])).toEqual([]);
    });
  });

  describe('sending', () => {
    it('sendToClient delivers to one connection, 0 for an unknown one', async () => {
      const { conns, pairs } = await connect(2);
      expect(await engine.sendToClient(conns[0].id, msg('one'))).toEqual({ delivered: 1, held: 0 });
      expect(await engine.sendToClient(unknownId(), msg('nobody'))).toEqual({ delivered: 0, held: 0 });
      expect(await receivedBefore(pairs[0])).toEqual(['one']);
      expect(await receivedBefore(pairs[1])).toEqual([]);
    });

    it('sendToUids reaches every connection of every listed uid', async () => {
      const { conns, pairs } = await connect(4);
      const [a1, a2, b, c] = conns;
      await engine.bindUid(a1.id, 'alice');
      await engine.bindUid(a2.id, 'alice');
      await engine.bindUid(b.id, 'bob');
      await engine.bindUid(c.id, 'carol');

      expect(await engine.sendToUids(['alice'], msg('for alice'))).toEqual({ delivered: 2, held: 0 });
      expect(await engine.sendToUids(['alice', 'bob', 'alice', 'nobody'], msg('for both'))).toEqual({ delivered: 3, held: 0 });
      expect(await engine.sendToUids(['nobody'], msg('lost'))).toEqual({ delivered: 0, held: 0 });
      expect(await receivedBefore(pairs[0])).toEqual(['for alice', 'for both']);
      expect(await receivedBefore(pairs[1])).toEqual(['for alice', 'for both']);
      expect(await receivedBefore(pairs[2])).toEqual(['for both']);
      expect(await receivedBefore(pairs[3])).toEqual([]);
      expect(metrics.framesDelivered).toBe(5);
    });

    it('sendToGroups reaches a member of two groups once and honours exclude', async () => {
      const { conns, pairs } = await connect(4);
      const [a, b, c, outsider] = conns;
      await engine.joinGroup(a.id, 'g1');
      await engine.joinGroup(a.id, 'g2');
      await engine.joinGroup(b.id, 'g1');
      await engine.joinGroup(c.id, 'g2');

      expect(await engine.sendToGroups(['g1', 'g2'], msg('both groups'), null)).toEqual({ delivered: 3, held: 0 });
      expect(await engine.sendToGroups(['g1', 'g2', 'g1', 'empty'], msg('excluding b'), new Set([b.id]))).toEqual({ delivered: 2, held: 0 });
      expect(await engine.sendToGroups(['g1'], msg('g1 only'), new Set([a.id, outsider.id]))).toEqual({ delivered: 1, held: 0 });
      expect(await engine.sendToGroups(['empty'], msg('nobody'), null)).toEqual({ delivered: 0, held: 0 });

      expect(await receivedBefore(pairs[0])).toEqual(['both groups', 'excluding b']);
      expect(await receivedBefore(pairs[1])).toEqual(['both groups', 'g1 only']);
      expect(await receivedBefore(pairs[2])).toEqual(['both groups', 'excluding b']);
      expect(await receivedBefore(pairs[3])).toEqual([]);
    });

    it('sendToAll reaches every connection but the excluded ones', async () => {
      const { conns, pairs } = await connect(3);
      expect(await engine.sendToAll(msg('all'), null)).toEqual({ delivered: 3, held: 0 });
      expect(await engine.sendToAll(msg('most'), new Set([conns[1].id, unknownId()]))).toEqual({ delivered: 2, held: 0 });
      expect(await receivedBefore(pairs[0])).toEqual(['all', 'most']);
      expect(await receivedBefore(pairs[1])).toEqual(['all']);
      expect(await receivedBefore(pairs[2])).toEqual(['all', 'most']);
    });

    it('sendToClients sends once per listed connection, skipping unknown and excluded ids', async () => {
      const { conns, pairs } = await connect(3);
      const [a, b, c] = conns;
      expect(await engine.sendToClients([], msg('nobody'), null)).toEqual({ delivered: 0, held: 0 });
      expect(await engine.sendToClients([a.id, a.id, b.id, unknownId()], msg('listed'), null)).toEqual({ delivered: 2, held: 0 });
      expect(await engine.sendToClients([a.id, b.id], msg('minus b'), new Set([b.id]))).toEqual({ delivered: 1, held: 0 });
      expect(await receivedBefore(pairs[0])).toEqual(['listed', 'minus b']);
      expect(await receivedBefore(pairs[1])).toEqual(['listed']);
      expect(await receivedBefore(pairs[2])).toEqual([]);
      expect(c.closedBy).toBeNull();
    });

    it('delivers the exact bytes, text or binary', async () => {
      const { conns, pairs } = await connect(1);
      const bytes = Buffer.from([0, 255, 1, 254]);
      expect(await engine.sendToClient(conns[0].id, EncodedMessage.encode(bytes))).toEqual({ delivered: 1, held: 0 });
      expect(await engine.sendToClient(conns[0].id, EncodedMessage.encode({ type: 'note', n: 1 }))).toEqual({ delivered: 1, held: 0 });
      const binary = await pairs[0].inbox.nextMessage();
      expect(binary.binary).toBe(true);
      expect(binary.data.equals(bytes)).toBe(true);
      const text = await pairs[0].inbox.nextMessage();
      expect(text.binary).toBe(false);
      expect(JSON.parse(text.text)).toEqual({ type: 'note', n: 1 });
    });
  });

  describe('sessions', () => {
    it('setSession replaces with a copy; updateSession deep-merges and null deletes', async () => {
      const { conns } = await connect(1);
      const [a] = conns;
      const initial = { name: 'a', prefs: { theme: 'dark', lang: 'en' }, tags: [1, 2], drop: true };
      await engine.setSession(a.id, initial);
      initial.prefs.theme = 'mutated';
      expect(a.session).toEqual({ name: 'a', prefs: { theme: 'dark', lang: 'en' }, tags: [1, 2], drop: true });

      const merged = await engine.updateSession(a.id, { prefs: { lang: 'fr', size: 2 }, tags: [3], drop: null });
      const expected = { name: 'a', prefs: { theme: 'dark', lang: 'fr', size: 2 }, tags: [3] };
      expect(merged).toEqual(expected);
      expect((await engine.getClients([a.id]))[0]!.session).toEqual(expected);
      (merged.prefs as Record<string, unknown>).theme = 'changed through the result';
      expect((a.session.prefs as Record<string, unknown>).theme).toBe('dark');

      await engine.setSession(a.id, { only: 1 });
      expect(a.session).toEqual({ only: 1 });
    });
  });

  describe('queries', () => {
    it('getClients answers each id, null for unknown ones', async () => {
      const { conns } = await connect(2);
      const [a, b] = conns;
      await engine.bindUid(a.id, 'u');
      await engine.joinGroup(b.id, 'g');
      const unknown = unknownId();
      expect(await engine.getClients([a.id, unknown, b.id])).toEqual([
        { clientId: a.id, uid: 'u', groups: [], session: {} },
        null,
        { clientId: b.id, uid: null, groups: ['g'], session: {} },
      ]);
      expect(await engine.getClients([])).toEqual([]);
    });

    it('answers every lookup, count and list', async () => {
      const { conns } = await connect(4);
      const [a1, a2, b, anon] = conns;
      await engine.bindUid(a1.id, 'alice');
      await engine.bindUid(a2.id, 'alice');
      await engine.bindUid(b.id, 'bob');
      await engine.joinGroup(a1.id, 'room');
      await engine.joinGroup(b.id, 'room');
      await engine.joinGroup(anon.id, 'room');
      await engine.joinGroup(anon.id, 'lobby');

      expect(await engine.getClientIdsByUids(['alice', 'bob', 'nobody'])).toEqual([[a1.id, a2.id], [b.id], []]);
      expect(await engine.countClientsByUids(['alice', 'bob', 'nobody'])).toEqual([2, 1, 0]);
      expect(await engine.getClientIdsByGroups(['room', 'lobby', 'void'])).toEqual([[a1.id, b.id, anon.id], [anon.id], []]);
      expect(await engine.countClientsByGroups(['room', 'lobby', 'void'])).toEqual([3, 1, 0]);
      expect((await engine.getAllClientIds()).sort()).toEqual(conns.map((c) => c.id).sort());
      expect(await engine.countClients()).toBe(4);
      expect((await engine.getAllUids()).sort()).toEqual(['alice', 'bob']);
      expect(await engine.countUids()).toBe(2);
      expect((await engine.getAllGroups()).sort()).toEqual(['lobby', 'room']);
    });

    it('answers an empty node', async () => {
      expect(await engine.getAllClientIds()).toEqual([]);
      expect(await engine.countClients()).toBe(0);
      expect(await engine.getAllUids()).toEqual([]);
      expect(await engine.countUids()).toBe(0);
      expect(await engine.getAllGroups()).toEqual([]);
      expect(await engine.getClientIdsByUids(['u'])).toEqual([[]]);
      expect(await engine.getClientIdsByGroups(['g'])).toEqual([[]]);
      expect(await engine.countClientsByUids(['u'])).toEqual([0]);
      expect(await engine.countClientsByGroups(['g'])).toEqual([0]);
    });
  });

  describe('closing', () => {
    it('closeUid closes every socket of the uid and nothing else', async () => {
      const { conns, pairs } = await connect(3);
      const [a1, a2, b] = conns;
      await engine.bindUid(a1.id, 'alice');
      await engine.bindUid(a2.id, 'alice');
      await engine.bindUid(b.id, 'bob');

      expect(await engine.closeUid('alice')).toBe(2);
      expect(await engine.closeUid('nobody')).toBe(0);
      for (const pair of pairs.slice(0, 2)) {
        expect(await pair.inbox.closed()).toEqual({ kind: 'close', code: 1000, reason: 'closed-by-server' });
        await closeEvent(pair.server);
      }
      expect(a1.closedBy).toEqual({ reason: 'closed-by-server', code: 1000 });
      expect(a2.closedBy).toEqual({ reason: 'closed-by-server', code: 1000 });
      expect(b.closedBy).toBeNull();
      expect(await receivedBefore(pairs[2])).toEqual([]);
      // Sockets already closing are not counted again.
      expect(await engine.closeUid('alice')).toBe(0);
    });

    it('closeClient flushes a final message then closes with 1000', async () => {
      const { conns, pairs } = await connect(1);
      expect(await engine.closeClient(conns[0].id, msg('bye'), false)).toBe(true);
      expect(await pairs[0].inbox.next()).toMatchObject({ kind: 'message', text: 'bye' });
      expect(await pairs[0].inbox.next()).toEqual({ kind: 'close', code: 1000, reason: 'closed-by-server' });
      expect(await engine.closeClient(conns[0].id, null, false)).toBe(false);
      expect(await engine.closeClient(unknownId(), null, false)).toBe(false);
    });

    it('closeClient with destroy cuts the socket', async () => {
      const { conns, pairs } = await connect(1);
      expect(await engine.closeClient(conns[0].id, null, true)).toBe(true);
      expect(await pairs[0].inbox.next()).toEqual({ kind: 'close', code: 1006, reason: '' });
      expect(conns[0].closedBy).toEqual({ reason: 'destroyed', code: 1006 });
      expect(await engine.closeClient(unknownId(), null, true)).toBe(false);
    });
  });
});

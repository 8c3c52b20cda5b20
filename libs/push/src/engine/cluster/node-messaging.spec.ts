import { Logger } from '@nestjs/common';
import { PushEngineUnavailableError, PushLimitExceededError } from '../../errors/push.errors';
import { createNodeId } from '../../identity/client-id';
import type { EncodedMessage } from '../../message/encoded-message';
import { openRedisParts, uniquePrefix, type RedisParts } from '../../test-support/redis-parts';
import { RedisServer } from '../../../../../test/support/redis-server';
import { eventually } from '../../../../../test/support/wait';
import { CLUSTER_PROTOCOL_VERSION, type HolderCall } from './cluster-message';
import type { ClusterRoute } from './cluster-transport';
import { MAX_PENDING_CALLS, NodeMessaging, type ClusterInbox } from './node-messaging';

/** An inbox that records what arrived and serves calls with `serve`. */
class RecordingInbox implements ClusterInbox {
  pushes: { route: ClusterRoute; data: string; exclude: string[] | null }[] = [];
  probes: number[] = [];
  serve: (clientId: string, call: HolderCall, body: Buffer, binary: boolean) => Promise<unknown> = () => new Promise(() => undefined);
  push(route: ClusterRoute, message: EncodedMessage, exclude: ReadonlySet<string> | null): void {
    this.pushes.push({ route, data: message.data.toString(), exclude: exclude ? [...exclude] : null });
  }
  pushToClients(): void {}
  pushToGroups(): void {}
  closeUid(): void {}
  ungroup(): void {}
  probeHeard(id: number): void {
    this.probes.push(id);
  }
}

interface Node {
  id: string;
  parts: RedisParts;
  inbox: RecordingInbox;
  messaging: NodeMessaging;
}

describe('NodeMessaging on a real Redis', () => {
  let redis: RedisServer;
  let prefix: string;
  const nodes: Node[] = [];

  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterAll(async () => {
    await redis.close();
  });
  beforeEach(() => {
    prefix = uniquePrefix();
  });
  afterEach(async () => {
    for (const node of nodes.splice(0)) {
      node.messaging.close('test over');
      await node.parts.close();
    }
    jest.restoreAllMocks();
  });

  /** A node whose transport listens and hands every message to its NodeMessaging. */
  async function node(requestTimeout = 5_000, listen = true): Promise<Node> {
    const id = createNodeId();
    const parts = await openRedisParts({ url: redis.url }, prefix);
    const inbox = new RecordingInbox();
    const messaging = new NodeMessaging(id, parts.transport, inbox, parts.metrics, requestTimeout, (n) => parts.directory.isAlive(n));
    if (listen) await parts.transport.start(id, (route, payload) => messaging.receive(route, payload));
    const created = { id, parts, inbox, messaging };
    nodes.push(created);
    return created;
  }

  it('answers a call with the holder\'s result', async () => {
    const [a, b] = [await node(), await node()];
    b.inbox.serve = async (clientId, call, body, binary) => ({ clientId, call, body: body.toString(), binary });
    const result = await a.messaging.call(b.id, 'cid', { fn: 'bind', uid: 'u1' }, Buffer.from('last\nwords'), true);
    expect(result).toEqual({ clientId: 'cid', call: { fn: 'bind', uid: 'u1' }, body: 'last\nwords', binary: true });
    expect(a.messaging.pendingCalls).toBe(0);
  });

  it('a call to a node nobody listens on and that is not alive resolves false', async () => {
    const a = await node();
    await expect(a.messaging.call(createNodeId(), 'cid', { fn: 'unbind' })).resolves.toBe(false);
    expect(a.messaging.pendingCalls).toBe(0);
  });

  it('a call to a node that is alive but not listening rejects with 503', async () => {
    const a = await node();
    const gone = createNodeId();
    await a.parts.directory.heartbeat(gone, 60_000);
    const call = a.messaging.call(gone, 'cid', { fn: 'unbind' });
    await expect(call).rejects.toBeInstanceOf(PushEngineUnavailableError);
    await expect(call).rejects.toThrow(/alive but not listening/);
    expect(a.messaging.pendingCalls).toBe(0);
  });

  it('a call that gets no reply times out and is counted', async () => {
    const a = await node(150);
    const b = await node(); // listens, but its inbox never answers
    const call = a.messaging.call(b.id, 'cid', { fn: 'unbind' });
    await expect(call).rejects.toBeInstanceOf(PushEngineUnavailableError);
    await expect(call).rejects.toThrow(/did not answer within 150 ms/);
    expect(a.parts.metrics.requestTimeouts).toBe(1);
    expect(a.messaging.pendingCalls).toBe(0);
  });

  it(`refuses a call past ${MAX_PENDING_CALLS} waiting ones with 503, and close() rejects the waiting ones`, async () => {
    const a = await node(60_000);
    const b = await node(); // never answers
    const waiting = Array.from({ length: MAX_PENDING_CALLS }, (_, i) => a.messaging.call(b.id, `c${i}`, { fn: 'unbind' }));
    expect(a.messaging.pendingCalls).toBe(MAX_PENDING_CALLS);
    await expect(a.messaging.call(b.id, 'one-too-many', { fn: 'unbind' })).rejects.toThrow(/too many calls are waiting/);
    a.messaging.close('closing');
    const settled = await Promise.allSettled(waiting);
    expect(settled.every((s) => s.status === 'rejected' && s.reason instanceof PushEngineUnavailableError)).toBe(true);
    expect(a.messaging.pendingCalls).toBe(0);
  }, 30_000);

  it('a refused limit stays a PushLimitExceededError across nodes; other errors are 503', async () => {
    const [a, b] = [await node(), await node()];
    b.inbox.serve = async (_clientId, call) => {
      if (call.fn === 'join') throw new PushLimitExceededError('too_many_groups', 'at most 3 groups', 3);
      throw new Error('something else');
    };
    const limited = await a.messaging.call(b.id, 'cid', { fn: 'join', group: 'g' }).catch((e: unknown) => e);
    expect(limited).toBeInstanceOf(PushLimitExceededError);
    expect(limited).toMatchObject({ code: 'too_many_groups', limit: 3, message: 'at most 3 groups' });
    const other = await a.messaging.call(b.id, 'cid', { fn: 'unbind' }).catch((e: unknown) => e);
    expect(other).toBeInstanceOf(PushEngineUnavailableError);
    expect((other as Error).message).toBe('something else');
  });

  it('refuses a message of another protocol version: counted each time, logged once per origin', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const a = await node();
    const channel = a.parts.keys.nodeChannel(a.id);
    const foreign = (origin: string, version: number | undefined) =>
      Buffer.from(JSON.stringify({ v: version, o: origin, op: 'probe', id: 1 }) + '\n');
    for (let i = 0; i < 3; i++) await a.parts.connections.cmd.publish(channel, foreign('old-node', undefined));
    for (let i = 0; i < 2; i++) await a.parts.connections.cmd.publish(channel, foreign('new-node', CLUSTER_PROTOCOL_VERSION + 1));
    await eventually(() => a.parts.metrics.clusterVersionRefusals === 5);
    const logged = warn.mock.calls.map((args) => String(args[0]));
    expect(logged.filter((line) => line.includes('old-node'))).toHaveLength(1);
    expect(logged.filter((line) => line.includes('new-node'))).toHaveLength(1);
    expect(a.parts.metrics.badClusterMessages).toBe(0);
    expect(a.inbox.probes).toEqual([]);
  });

  it('counts and drops a malformed message', async () => {
    jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    const a = await node();
    await a.parts.connections.cmd.publish(a.parts.keys.nodeChannel(a.id), Buffer.from('no header at all'));
    await eventually(() => a.parts.metrics.badClusterMessages === 1);
    expect(a.parts.metrics.clusterVersionRefusals).toBe(0);
  });

  it.each<[string, (keys: RedisParts['keys']) => { route: ClusterRoute; channel: string }]>([
    ['uid', (keys) => ({ route: { kind: 'uid', name: 'u}1' }, channel: keys.uidChannel('u}1') })],
    ['group', (keys) => ({ route: { kind: 'group', name: 'g1' }, channel: keys.groupChannel('g1') })],
    ['all', (keys) => ({ route: { kind: 'all' }, channel: keys.allChannel })],
  ])('a node ignores its own pushes on a %s route and takes the others\'', async (_kind, pick) => {
    const [a, b] = [await node(), await node(5_000, false)];
    const { route, channel } = pick(a.parts.keys);
    if (route.kind !== 'all') await a.parts.transport.subscribe(route);
    const own = a.messaging.encode({ op: 'push' }, Buffer.from('own'));
    const other = b.messaging.encode({ op: 'push', x: ['skip-me'] }, Buffer.from('other'));
    // One connection publishes both, so Redis delivers them in this order: once the second is in, the first was read.
    await a.parts.connections.cmd.publish(channel, own);
    await a.parts.connections.cmd.publish(channel, other);
    await eventually(() => a.inbox.pushes.length > 0);
    expect(a.inbox.pushes).toEqual([{ route, data: 'other', exclude: ['skip-me'] }]);
  });
});

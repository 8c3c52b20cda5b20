import { connect } from 'node:net';
import Redis, { type RedisOptions } from 'ioredis';
import { RedisServer } from './support/redis-server';
import { TcpProxy } from './support/tcp-proxy';
import { eventually } from './support/wait';

/** The test proxy itself (test/support/tcp-proxy.ts), against a real redis-server. */
describe('TcpProxy (test support)', () => {
  let redis: RedisServer;
  let proxy: TcpProxy;
  let direct: Redis;
  const clients: Redis[] = [];
  const viaProxy = (options: RedisOptions = {}) => {
    const client = new Redis(proxy.url, { maxRetriesPerRequest: 0, ...options });
    client.on('error', () => undefined);
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    redis = await RedisServer.start();
    proxy = await TcpProxy.start(redis.port);
    direct = new Redis(redis.url);
  });
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    direct.disconnect();
    await proxy.close();
    await redis.close();
  });

  it('forwards, and tells the subscriber connection from the command connection', async () => {
    const cmd = viaProxy();
    const sub = viaProxy();
    expect(await cmd.set('k', 'v')).toBe('OK');
    expect(await direct.get('k')).toBe('v');
    await sub.subscribe('proxy-test');
    const subscribers = proxy.subscribers();
    expect(subscribers).toHaveLength(1);
    expect(proxy.connections.filter((c) => !c.subscriber)).toHaveLength(1);
    const heard = new Promise((resolve) => sub.once('message', (_ch, m) => resolve(m)));
    await direct.publish('proxy-test', 'hi');
    expect(await heard).toBe('hi');
  });

  it('blackholes one connection silently; the others and new ones still pass', async () => {
    const cmd = viaProxy();
    const sub = viaProxy();
    await sub.subscribe('hole');
    await cmd.ping();
    const conn = proxy.subscribers().at(-1)!; // the newest: this test's
    conn.blackhole();
    const heard: string[] = [];
    sub.on('message', (_ch, m: string) => heard.push(m));
    // Redis still sees the subscriber (nobody closed anything) and publishes to it; nothing arrives.
    expect(await direct.publish('hole', 'lost')).toBe(1);
    expect(await cmd.get('k')).toBe('v');
    const fresh = viaProxy();
    expect(await fresh.ping()).toBe('PONG');
    expect(heard).toEqual([]);
    expect(sub.status).toBe('ready'); // the client has no idea
  });

  it('holds commands in order and releases them on demand', async () => {
    const cmd = viaProxy();
    await cmd.ping();
    const conn = proxy.connections.at(-1)!; // the newest: this test's
    const held = conn.holdWhen((c) => c.raw.includes('held-1'));
    const first = cmd.set('held-1', 'a');
    const second = cmd.set('held-2', 'b');
    await held;
    await eventually(() => conn.heldIncludes('held-2'));
    expect(await direct.exists('held-1', 'held-2')).toBe(0);
    expect(conn.release((c) => !c.raw.includes('held-2'))).toBe(1);
    await first;
    expect(await direct.exists('held-1', 'held-2')).toBe(1);
    conn.resume();
    await second;
    expect(await direct.exists('held-1', 'held-2')).toBe(2);
  });

  it('rejects new connections while told to', async () => {
    proxy.mode = 'reject';
    // Accepted, then closed at once, before any byte.
    const socket = connect(proxy.port, '127.0.0.1');
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.on('error', () => undefined);
    socket.write('*1\r\n$4\r\nPING\r\n');
    await new Promise((resolve) => socket.once('close', resolve));
    expect(received).toEqual([]);
    proxy.mode = 'forward';
    expect(await viaProxy().ping()).toBe('PONG');
  });
});

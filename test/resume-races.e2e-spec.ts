import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { LocalRegistry } from '../libs/push/src';
import { PUSH_LOCAL_REGISTRY } from '../libs/push/src/push.constants';
import { RedisServer } from './support/redis-server';
import { TcpProxy } from './support/tcp-proxy';
import { startApp, type TestApp } from './support/test-app';
import { TestClient } from './support/test-client';
import { eventually } from './support/wait';

/*
 * The edges of a resume on the Redis engine, with raw sockets on the resumable protocol and a TCP proxy in front of
 * Redis that holds a node's commands where a step of the handshake must be caught mid-way: a socket that dies before
 * its welcome, a take-over refused to another user, a fresh connection pushed to before its welcome, and shutdown.
 */

jest.setTimeout(30_000);

const PROTOCOL = 'nest-push.v1';

type Welcome = { type: 'welcome'; client_id: string; token: string; resumed: boolean; recovered: boolean; reason?: string };

let redis: RedisServer;
beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(async () => {
  await redis.close();
});

describe('resume races on the Redis engine', () => {
  const apps: TestApp[] = [];
  const sockets: TestClient[] = [];
  let proxy: TcpProxy | undefined;

  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.socket.terminate();
    for (const app of apps.splice(0)) await app.close();
    await proxy?.close();
    proxy = undefined;
  });

  /** The uid the authenticate hook reads from the query (`?uid=…`), for the tests that log users in. */
  const uidOf = (req: IncomingMessage) => new URL(req.url ?? '/', 'http://x').searchParams.get('uid') ?? undefined;

  const start = async (url: string, prefix: string, authenticate = false) => {
    const app = await startApp({
      engine: { type: 'redis', url, prefix, nodeTtl: 2000, requestTimeout: 500 },
      resume: { window: 60_000 },
      ...(authenticate ? { authenticate: (req: IncomingMessage) => ({ uid: uidOf(req) }) } : {}),
    });
    apps.push(app);
    return app;
  };

  /** Opens a raw socket on the resumable protocol and says hello. */
  const open = async (app: TestApp, frame: Record<string, unknown> = {}, query = '') => {
    const socket = await TestClient.open(app.wsUrl + query, {}, [PROTOCOL]);
    sockets.push(socket);
    socket.send(JSON.stringify({ type: 'hello', ...frame }));
    return socket;
  };

  /** Opens a raw socket, says hello, and returns its welcome. */
  const hello = async (app: TestApp, frame: Record<string, unknown> = {}, query = '') => {
    const socket = await open(app, frame, query);
    const welcome = (await socket.next()) as Welcome;
    expect(welcome).toMatchObject({ type: 'welcome' });
    return { socket, welcome };
  };

  /** Drops a socket the way a network does: the server detaches its connection. */
  const drop = async (app: TestApp, socket: TestClient, clientId: string) => {
    const detached = new Promise<void>((resolve) => {
      const sub = app.events.detach$.subscribe((e) => {
        if (e.clientId !== clientId) return;
        sub.unsubscribe();
        resolve();
      });
    });
    socket.socket.terminate();
    await detached;
  };

  const prefix = () => `rx-${randomBytes(3).toString('hex')}:`;

  /** The proxy's command connection of a node (not its subscriber), once it has one. */
  const commands = async (p: TcpProxy) => p.waitFor((conn) => !conn.subscriber && conn.names.length > 0);

  it("a same-node resume whose socket dies before its welcome leaves the client's token good: it resumes with it", async () => {
    proxy = await TcpProxy.start(redis.port);
    const a = await start(proxy.url, prefix());
    const first = await hello(a);
    const clientId = first.welcome.client_id;
    await a.push.bindUid(clientId, 'dora');
    await drop(a, first.socket, clientId);

    // The resume's next Redis command (it names the connection) is held: the handshake waits there, mid-way.
    const link = await commands(proxy);
    const caught = link.holdWhen((cmd) => cmd.raw.includes(clientId));
    const resuming = await open(a, { resume: first.welcome.token });
    await caught;
    const detachedBefore = a.push.getMetrics().resumes.detached;
    resuming.socket.terminate(); // gone before its welcome could be written
    await eventually(async () => a.push.getMetrics().resumes.detached > detachedBefore);
    link.resume();

    // The client never got a new token: the one it holds must still resume its connection.
    const again = await hello(a, { resume: first.welcome.token });
    expect(again.welcome).toMatchObject({ client_id: clientId, resumed: true });
    expect(await a.push.getClientIdByUid('dora')).toEqual([clientId]);
  });

  it('a resume on another node whose socket dies before its welcome ends the copy it took (a close event): nothing is held for nobody', async () => {
    proxy = await TcpProxy.start(redis.port);
    const shared = prefix();
    const a = await start(redis.url, shared);
    const b = await start(proxy.url, shared);
    const first = await hello(a);
    const clientId = first.welcome.client_id;
    await a.push.bindUid(clientId, 'eve');
    await drop(a, first.socket, clientId);

    const closes: { clientId: string; uid: string | null }[] = [];
    const sub = b.events.close$.subscribe((e) => closes.push({ clientId: e.clientId, uid: e.uid }));
    // B takes the connection over: it registers its copy, then asks A to release the original. That call is held
    // while the socket dies.
    const link = await commands(proxy);
    const caught = link.holdWhen((cmd) => cmd.name === 'publish' && cmd.raw.includes('"fn":"release"'));
    const resuming = await open(b, { resume: first.welcome.token });
    await caught;
    resuming.socket.terminate();
    await resuming.closed;
    link.resume();
    // The copy's client never got its token, so nobody can resume it: it ends now rather than at the window's end.
    await eventually(async () => closes.length === 1, 10_000);
    sub.unsubscribe();
    expect(closes[0]).toMatchObject({ uid: 'eve' });
    expect(closes[0].clientId).not.toBe(clientId);
    expect(await b.push.send({ uid: 'eve' }, 'anyone?')).toEqual({ delivered: 0, held: 0 });
  });

  it("a take-over refused to another user leaves the connection to its owner: the owner's token resumes it", async () => {
    const shared = prefix();
    const a = await start(redis.url, shared, true);
    const b = await start(redis.url, shared, true);
    const first = await hello(a, {}, '?uid=frank');
    const clientId = first.welcome.client_id;
    await drop(a, first.socket, clientId);

    const thief = await hello(b, { resume: first.welcome.token }, '?uid=mallory');
    expect(thief.welcome).toMatchObject({ resumed: false, reason: 'refused' });
    // The owner comes back at once (the node that refused the other login gave the take-over up).
    const owner = await hello(b, { resume: first.welcome.token }, '?uid=frank');
    expect(owner.welcome).toMatchObject({ resumed: true, recovered: true, previous_client_id: clientId });
    expect(await b.push.getClientIdByUid('frank')).toEqual([owner.welcome.client_id]);
  });

  it("a hand-over whose answer was lost is taken again at once by the same node (the client's retry is not told to wait for the offer to lapse)", async () => {
    proxy = await TcpProxy.start(redis.port);
    const shared = prefix();
    const a = await start(proxy.url, shared);
    const b = await start(redis.url, shared);
    const first = await hello(a);
    const clientId = first.welcome.client_id;
    await a.push.bindUid(clientId, 'hana');
    await drop(a, first.socket, clientId);

    // A offers the connection to B, but its answer never reaches B: B gives up after requestTimeout and says 1013.
    const link = await commands(proxy);
    const lost = link.holdWhen((cmd) => cmd.name === 'publish' && cmd.raw.includes('"op":"reply"'));
    const attempt = await open(b, { resume: first.welcome.token });
    await lost;
    expect(await attempt.closed).toMatchObject({ code: 1013 });
    link.resume(); // the answer reaches B too late: B has forgotten the call
    // The client tries again at once: A's offer to B still stands, and B may take it again.
    const again = await hello(b, { resume: first.welcome.token });
    expect(again.welcome).toMatchObject({ resumed: true, recovered: true, previous_client_id: clientId });
  });

  it('the first frame of a fresh resumable connection is its welcome, even while another node pushes to its uid continuously', async () => {
    const shared = prefix();
    const a = await start(redis.url, shared, true);
    const b = await start(redis.url, shared, true);
    // A member already makes node A listen to the uid.
    const anchor = await hello(a, {}, '?uid=gina');
    let pushing = true;
    let sent = 0;
    const pushes = (async () => {
      while (pushing) {
        await b.push.sendToUid('gina', { n: ++sent });
        await new Promise((done) => setImmediate(done));
      }
    })();
    await eventually(async () => anchor.socket.pending().length > 5, 10_000);
    const firsts: unknown[] = [];
    for (let i = 0; i < 20; i++) {
      const socket = await open(a, {}, '?uid=gina');
      firsts.push(await socket.next());
      socket.socket.terminate();
    }
    pushing = false;
    await pushes;
    expect(firsts.filter((frame) => (frame as { type?: string }).type !== 'welcome')).toEqual([]);
  });

  it('shutdown leaves no timer of a dropped connection behind (its record stays in Redis for another node)', async () => {
    const a = await start(redis.url, prefix());
    const registry = a.app.get<LocalRegistry>(PUSH_LOCAL_REGISTRY, { strict: false });
    const first = await hello(a);
    await drop(a, first.socket, first.welcome.client_id);
    const closes: string[] = [];
    a.events.close$.subscribe((e) => closes.push(e.clientId));
    await a.close();
    apps.splice(apps.indexOf(a), 1);
    const left = [...registry.connections()];
    expect(left.filter((conn) => conn.resume?.expiry).length).toBe(0);
    expect(closes).toEqual([]);
  });
});

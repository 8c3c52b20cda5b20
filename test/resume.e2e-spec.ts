import { firstValueFrom, filter, take } from 'rxjs';
import { RecordingClient } from './support/recording-client';
import { TcpProxy } from './support/tcp-proxy';
import { startApp, type TestApp } from './support/test-app';
import { TestClient } from './support/test-client';

/*
 * Resume and recovery on one node (memory engine), with the official client (its source, on `ws`) and with raw
 * sockets speaking the resumable protocol. The network is cut with a TCP proxy the test controls: existing
 * connections are black-holed (no FIN, no RST, as in a partition) and new ones refused, so the server notices by its
 * heartbeat and the client by the missing heartbeat frames.
 */

jest.setTimeout(30_000);

const PROTOCOL = 'nest-push.v1';
const HEARTBEAT = { interval: 200, timeout: 600 };

type Chat = {
  n: number;
  to: string;
};

describe('resume and recovery (memory engine)', () => {
  let t: TestApp;
  let proxy: TcpProxy;
  const clients: RecordingClient<Chat>[] = [];
  const sockets: TestClient[] = [];

  const start = async (push: Parameters<typeof startApp>[0] = {}) => {
    t = await startApp({ heartbeat: HEARTBEAT, ...push });
    proxy = await TcpProxy.start(Number(new URL(t.baseUrl).port));
  };
  const proxiedWsUrl = () => `ws://127.0.0.1:${proxy.port}/ws`;

  /** Cuts every open connection without telling either side, and refuses new ones. */
  const cut = () => {
    proxy.mode = 'reject';
    for (const conn of proxy.connections) conn.blackhole();
  };
  const heal = () => {
    proxy.mode = 'forward';
  };

  /** A client bound as `uid` in `group` by its `bind` hook (through PushService, as a BindController would). */
  const client = (uid: string, group: string, options: { backoff?: { initial: number; max: number } } = {}) => {
    const bound: string[] = [];
    const c = new RecordingClient<Chat>(proxiedWsUrl(), {
      backoff: options.backoff ?? { initial: 50, max: 200 },
      bind: async (clientId) => {
        await t.push.bindUid(clientId, uid);
        await t.push.joinGroup(clientId, group);
        bound.push(clientId);
      },
    });
    clients.push(c);
    return { c, bound };
  };

  const nextEvent = <K extends 'detach$' | 'close$' | 'resume$'>(stream: K, clientId: string) =>
    firstValueFrom(
      (t.events[stream] as import('rxjs').Observable<{ clientId: string }>).pipe(
        filter((e) => e.clientId === clientId),
        take(1),
      ),
    );

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    for (const s of sockets.splice(0)) await s.close().catch(() => undefined);
    await proxy?.close();
    await t?.close();
  });

  it('a network cut while pushing to the uid, the group, everyone and the client_id: every message arrives once, in order, with no bind', async () => {
    await start();
    const { c, bound } = client('alice', 'room');
    await c.open();
    await c.until('bound', () => bound.length === 1);
    const id = c.clientId;
    const sent: Chat[] = [];
    const send = async (n: number) => {
      const to = ['uid', 'group', 'all', 'client'][n % 4];
      const message: Chat = { n, to };
      sent.push(message);
      const target =
        to === 'uid' ? { uid: 'alice' } : to === 'group' ? { group: 'room' } : to === 'all' ? { all: true as const } : { clientId: id };
      return t.push.send(target, message);
    };
    expect(await send(0)).toEqual({ delivered: 1, held: 0 });
    await c.received(1);

    cut();
    const detached = nextEvent('detach$', id);
    // Written into a connection that is dead but not yet noticed: lost on the wire, kept in history.
    for (let n = 1; n <= 4; n++) expect(await send(n)).toEqual({ delivered: 1, held: 0 });
    expect(await detached).toMatchObject({ clientId: id, uid: 'alice', groups: ['room'], reason: 'heartbeat' });
    // Noticed: held for the connection that may resume.
    for (let n = 5; n <= 12; n++) expect(await send(n)).toEqual({ delivered: 0, held: 1 });
    expect(await t.push.isOnline(id)).toBe(true);
    expect(await t.push.getClientIdByUid('alice')).toEqual([id]);

    const resumedHere = nextEvent('resume$', id);
    heal();
    const resumed = await c.resumed(1);
    expect(resumed).toEqual({ recovered: true, resumed: true, clientId: id, previousClientId: id });
    expect(await resumedHere).toMatchObject({ clientId: id, previousClientId: id, uid: 'alice', groups: ['room'], recovered: true });
    await c.received(13);
    expect(c.messages).toEqual(sent);
    expect(bound).toHaveLength(1); // never bound again
    expect(c.binds).toHaveLength(1);

    // Live again, after the replay.
    expect(await send(13)).toEqual({ delivered: 1, held: 0 });
    await c.received(14);
    expect(c.messages.at(-1)).toEqual({ n: 13, to: 'group' });
    const metrics = t.push.getMetrics().resumes;
    expect(metrics).toMatchObject({ detached: 1, succeeded: 1, unrecovered: 0, refused: 0, replayedMessages: 12 });
  });

  it('the window passed: the client is told recovered: false, starts afresh and is bound again', async () => {
    await start({ resume: { window: 300 } });
    const { c, bound } = client('bob', 'room');
    await c.open();
    await c.until('bound', () => bound.length === 1);
    const first = c.clientId;
    cut();
    const closed = await nextEvent('close$', first);
    expect(closed).toMatchObject({ reason: 'resume-expired', uid: 'bob', groups: ['room'] });
    expect(await t.push.isOnline(first)).toBe(false);
    heal();
    const resumed = await c.resumed(1);
    expect(resumed).toMatchObject({ recovered: false, resumed: false, reason: 'not_found', previousClientId: first });
    expect(resumed.clientId).not.toBe(first);
    await c.until('bound again', () => bound.length === 2);
    expect(bound[1]).toBe(resumed.clientId);
    expect(await t.push.send({ uid: 'bob' }, { n: 1, to: 'uid' })).toEqual({ delivered: 1, held: 0 });
    await c.received(1);
    expect(t.push.getMetrics().resumes).toMatchObject({ expired: 1, refused: 1, succeeded: 0 });
  });

  describe('the token', () => {
    /** A raw socket on the resumable protocol: says hello, returns the welcome. */
    const hello = async (frame: Record<string, unknown> = {}) => {
      const socket = await TestClient.open(t.wsUrl, {}, [PROTOCOL]);
      sockets.push(socket);
      expect(socket.socket.protocol).toBe(PROTOCOL);
      socket.send(JSON.stringify({ type: 'hello', ...frame }));
      const welcome = await socket.next();
      expect(welcome).toMatchObject({ type: 'welcome' });
      return { socket, welcome };
    };
    /** Drops a socket the way a network does (no close frame): the server detaches its connection. */
    const drop = async (socket: TestClient, clientId: string) => {
      const detached = nextEvent('detach$', clientId);
      socket.socket.terminate();
      await detached;
    };

    beforeEach(() => start());

    it('is good for one resume: a second client presenting it is refused', async () => {
      const first = await hello();
      const clientId = first.welcome.client_id;
      await t.push.bindUid(clientId, 'carol');
      await drop(first.socket, clientId);

      const second = await hello({ resume: first.welcome.token });
      expect(second.welcome).toMatchObject({ client_id: clientId, resumed: true, recovered: true });
      expect(second.welcome.token).not.toBe(first.welcome.token);
      expect(second.welcome).not.toHaveProperty('previous_client_id'); // same node: same client_id

      const thief = await hello({ resume: first.welcome.token });
      expect(thief.welcome).toMatchObject({ resumed: false, recovered: false, reason: 'refused' });
      expect(thief.welcome.client_id).not.toBe(clientId);
      // The refused one is a fresh connection of its own; the resumed one keeps carol.
      expect(await t.push.getClientIdByUid('carol')).toEqual([clientId]);
      expect(await t.push.getUidByClientId(thief.welcome.client_id)).toBeNull();
      expect(t.push.getMetrics().resumes).toMatchObject({ succeeded: 1, refused: 1 });
    });

    it('a forged secret, an unknown client_id and a malformed token are refused', async () => {
      const owner = await hello();
      const clientId = owner.welcome.client_id;
      await drop(owner.socket, clientId);
      const forged = await hello({ resume: `${clientId}.${'A'.repeat(22)}` });
      expect(forged.welcome).toMatchObject({ resumed: false, reason: 'refused' });
      const unknown = await hello({ resume: `${'0'.repeat(48)}.${'A'.repeat(22)}` });
      expect(unknown.welcome).toMatchObject({ resumed: false, reason: 'not_found' });
      const malformed = await hello({ resume: 'not-a-token' });
      expect(malformed.welcome).toMatchObject({ resumed: false, reason: 'malformed' });
      // The owner's token still works after all that.
      const back = await hello({ resume: owner.welcome.token });
      expect(back.welcome).toMatchObject({ client_id: clientId, resumed: true });
    });

    it('a resume while the old socket still looks open replaces it (4001) and keeps the connection', async () => {
      const first = await hello();
      const clientId = first.welcome.client_id;
      await t.push.joinGroup(clientId, 'g');
      const again = await hello({ resume: first.welcome.token });
      expect(again.welcome).toMatchObject({ client_id: clientId, resumed: true });
      expect(await first.socket.closed).toEqual({ code: 4001, reason: 'replaced' });
      expect(await t.push.send({ group: 'g' }, 'still here')).toEqual({ delivered: 1, held: 0 });
      expect(await again.socket.next()).toMatch(/^\{"type":"msg","key":"g:g","off":"[0-9a-f]{12}\.1"\}\nstill here$/);
    });
  });

  describe('the bound on dropped connections', () => {
    /** Opens a raw socket on the resumable protocol, says hello, and drops it once it has its welcome. */
    const openAndDrop = async () => {
      const socket = await TestClient.open(t.wsUrl, {}, [PROTOCOL]);
      sockets.push(socket);
      socket.send(JSON.stringify({ type: 'hello' }));
      const welcome = (await socket.next()) as { client_id: string };
      const ended = Promise.race([
        nextEvent('detach$', welcome.client_id).then(() => 'kept'),
        nextEvent('close$', welcome.client_id).then(() => 'ended'),
      ]);
      socket.socket.terminate();
      return ended;
    };

    it('keeps at most maxConnectionsPerAddress dropped connections per address: past it a drop ends at once, counted', async () => {
      await start({ maxConnectionsPerAddress: 3 });
      for (let i = 0; i < 3; i++) expect(await openAndDrop()).toBe('kept');
      // Each socket closed, so the address may connect again; but its dropped connections are kept no more.
      expect(await openAndDrop()).toBe('ended');
      expect(t.push.getMetrics().resumes).toMatchObject({ detached: 3, overLimit: 1 });
    });

    it('keeps at most resume.maxDetached dropped connections in all', async () => {
      await start({ resume: { maxDetached: 2 } });
      for (let i = 0; i < 2; i++) expect(await openAndDrop()).toBe('kept');
      expect(await openAndDrop()).toBe('ended');
      expect(t.push.getMetrics().resumes).toMatchObject({ detached: 2, overLimit: 1 });
    });
  });
});


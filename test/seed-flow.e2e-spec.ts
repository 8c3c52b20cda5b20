import { HttpClient, startApp, TestApp } from './support/test-app';
import { TestClient } from './support/test-client';

/**
 * The GatewayWorker seed flow over the example app's real HTTP + WebSocket contract:
 * connect → init → login → bind → send to uid reaches every tab of that uid and nobody else.
 */
describe('seed flow (example app, memory engine)', () => {
  let t: TestApp;
  const sockets: TestClient[] = [];
  const connect = async () => {
    const c = await TestClient.connect(t.wsUrl);
    sockets.push(c);
    return c;
  };

  beforeAll(async () => {
    t = await startApp();
  });
  afterEach(async () => {
    await t.disconnect(sockets.splice(0));
  });
  afterAll(async () => {
    await t.close();
  });

  it('hands each connection a distinct, well-formed client_id in the init frame', async () => {
    const [a, b] = await Promise.all([connect(), connect()]);
    expect(a.clientId).toMatch(/^[0-9a-f]{48}$/);
    expect(b.clientId).toMatch(/^[0-9a-f]{48}$/);
    expect(a.clientId).not.toBe(b.clientId);
    expect(a.clientId.slice(0, 16)).toBe(t.push.nodeId);
  });

  it('delivers a send to a uid to every tab of that uid and to nobody else', async () => {
    const [aliceTab1, aliceTab2, bobTab, anonymous] = await Promise.all([connect(), connect(), connect(), connect()]);
    const alice = await new HttpClient(t.baseUrl).login('alice');
    const bob = await new HttpClient(t.baseUrl).login('bob');

    // JSON body for one tab, form body (what $.post sends) for the other.
    expect((await alice.post('/bind', { client_id: aliceTab1.clientId })).status).toBe(200);
    const formBind = await alice.post('/bind', { client_id: aliceTab2.clientId }, { form: true });
    expect(formBind).toMatchObject({ status: 200, body: { client_id: aliceTab2.clientId, uid: 'alice' } });
    expect((await bob.post('/bind', { client_id: bobTab.clientId })).status).toBe(200);

    const sent = await bob.post('/send', { uid: 'alice', message: 'hi alice' });
    expect(sent).toMatchObject({ status: 200, body: { delivered: 2, held: 0 } });
    const expected = { type: 'message', from: 'bob', data: 'hi alice' };
    expect(await aliceTab1.next()).toEqual(expected);
    expect(await aliceTab2.next()).toEqual(expected);

    // Per-socket order is preserved, so a marker sent afterwards proves nothing else arrived before it.
    for (const other of [bobTab, anonymous]) {
      await t.push.sendToClient(other.clientId, { marker: true });
      expect(await other.next()).toEqual({ marker: true });
    }
  });

  it('accepts a form-encoded send and a structured JSON message', async () => {
    const tab = await connect();
    const carol = await new HttpClient(t.baseUrl).login('carol');
    await carol.post('/bind', { client_id: tab.clientId });
    expect((await carol.post('/send', { uid: 'carol', message: 'from a form' }, { form: true })).body).toEqual({
      delivered: 1,
      held: 0,
    });
    expect(await tab.next()).toEqual({ type: 'message', from: 'carol', data: 'from a form' });
    await carol.post('/send', { uid: 'carol', message: { text: 'rich', n: [1, 2] } });
    expect(await tab.next()).toEqual({ type: 'message', from: 'carol', data: { text: 'rich', n: [1, 2] } });
  });

  it('re-binding a connection to another uid replaces the first uid', async () => {
    const tab = await connect();
    const dave = await new HttpClient(t.baseUrl).login('dave');
    const erin = await new HttpClient(t.baseUrl).login('erin');
    await dave.post('/bind', { client_id: tab.clientId });
    await erin.post('/bind', { client_id: tab.clientId });
    expect(await t.push.getUidByClientId(tab.clientId)).toBe('erin');
    expect(await t.push.isUidOnline('dave')).toBe(false);
    expect((await dave.post('/send', { uid: 'dave', message: 'x' })).body).toEqual({ delivered: 0, held: 0 });
  });

  it('joins and leaves groups over HTTP, and a group send reaches members only', async () => {
    const [mine, theirs, outsider] = await Promise.all([connect(), connect(), connect()]);
    const gina = await new HttpClient(t.baseUrl).login('gina');
    const hal = await new HttpClient(t.baseUrl).login('hal');
    await gina.post('/bind', { client_id: mine.clientId, group: 'room' });
    await hal.post('/bind', { client_id: theirs.clientId });
    expect((await hal.post('/join', { client_id: theirs.clientId, group: 'room' }, { form: true })).body).toEqual({
      client_id: theirs.clientId,
      groups: ['room'],
    });
    expect((await gina.post('/send', { group: 'room', message: 'to room' })).body).toEqual({ delivered: 2, held: 0 });
    expect(await mine.next()).toMatchObject({ data: 'to room' });
    expect(await theirs.next()).toMatchObject({ data: 'to room' });
    expect((await hal.post('/leave', { client_id: theirs.clientId, group: 'room' })).body.groups).toEqual([]);
    expect((await gina.post('/send', { group: 'room', message: 'again' })).body).toEqual({ delivered: 1, held: 0 });
    expect(await mine.next()).toMatchObject({ data: 'again' });
    await t.push.sendToClient(theirs.clientId, 'marker');
    expect(await theirs.next()).toBe('marker');
    await t.push.sendToClient(outsider.clientId, 'marker');
    expect(await outsider.next()).toBe('marker');
  });

  it('/unbind detaches the uid and groups; a new user binding a tab does not inherit groups', async () => {
    const tab = await connect();
    const ivy = await new HttpClient(t.baseUrl).login('ivy');
    await ivy.post('/bind', { client_id: tab.clientId, group: 'ivy-room' });
    expect((await ivy.post('/unbind', { client_id: tab.clientId })).body).toEqual({
      client_id: tab.clientId,
      uid: null,
      groups: [],
    });
    expect(await t.push.getUidByClientId(tab.clientId)).toBeNull();
    expect(await t.push.getGroupsByClientId(tab.clientId)).toEqual([]);
    expect((await ivy.post('/unbind', { client_id: tab.clientId })).status).toBe(403);

    await ivy.post('/bind', { client_id: tab.clientId, group: 'ivy-room' });
    const jack = await new HttpClient(t.baseUrl).login('jack');
    expect((await jack.post('/bind', { client_id: tab.clientId })).body).toEqual({
      client_id: tab.clientId,
      uid: 'jack',
      groups: [],
    });
  });

  it('reports cluster-wide counts on /stats and presence on /presence/:uid', async () => {
    const [one, two] = await Promise.all([connect(), connect()]);
    const frank = await new HttpClient(t.baseUrl).login('frank');
    await frank.post('/bind', { client_id: one.clientId, group: 'ops' });
    await frank.post('/bind', { client_id: two.clientId });
    const stats = await frank.get('/stats');
    expect(stats.status).toBe(200);
    expect(stats.body).toEqual({ clients: 2, uids: 1, groups: 1 });
    expect((await frank.get('/presence/frank')).body).toEqual({ uid: 'frank', online: true, connections: 2 });
    expect((await frank.get('/presence/nobody')).body).toEqual({ uid: 'nobody', online: false, connections: 0 });
  });
});

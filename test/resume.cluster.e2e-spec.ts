import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { NodeProcess } from './support/node-process';
import { RecordingClient } from './support/recording-client';
import { type ClusterBackend, eventuallyTruthy, redisCluster, singleRedis } from './support/cluster-backend';
import { TcpBalancer } from './support/tcp-balancer';
import { HttpClient } from './support/test-app';
import { TestClient } from './support/test-client';

/*
 * Resume and recovery across real node processes (the example app, `node dist/src/main.js`) on one Redis and on a
 * Redis Cluster: two gateway nodes behind a TCP load balancer the test controls (it cuts the network, and sends new
 * connections to the nodes that are up), and a push-only node C that every send and bind goes through. The client is
 * the official one (its source, on `ws`). The scenarios run in order on one cluster, its nodes replaced as they go.
 */

jest.setTimeout(90_000);

const ROOT = resolve(__dirname, '..');
const NODE_TTL_MS = 1500;
const WINDOW_MS = 5000;
const HEARTBEAT = { interval: 300, timeout: 900 };
const DEADLINE_MS = 15_000;

type Pushed = { type: 'message'; from: string; data: { n: number; to: string } };

/** Polls for state that has no event (another process's index), failing after `ms`. */
const eventually = <T>(what: string, check: () => Promise<T>, ms = DEADLINE_MS) => eventuallyTruthy(what, check, ms);

beforeAll(() => {
  // Never run a stale build: compile exactly what `npm start` would run.
  execFileSync('npx', ['nest', 'build'], { cwd: ROOT, stdio: 'pipe', timeout: 120_000 });
}, 150_000);

describeResume(singleRedis());
describeResume(redisCluster());

function describeResume(backend: ClusterBackend): void {
  describe(`resume across nodes on ${backend.name}`, () => {
    const prefix = `resume-${randomBytes(4).toString('hex')}:`;
    const secret = randomBytes(16).toString('hex');
    const nodes: NodeProcess[] = [];
    const clients: RecordingClient<Pushed>[] = [];
    const sockets: TestClient[] = [];
    let balancer: TcpBalancer;
    let A: NodeProcess;
    let B: NodeProcess;
    let C: NodeProcess;
    let sender: HttpClient;
    let c: RecordingClient<Pushed>;
    /** What the client must have received, in order. */
    const sent: Pushed[] = [];
    let n = 0;

    const startNode = async (name: string, gateway = true): Promise<NodeProcess> => {
      const node = await NodeProcess.start(name, {
        COOKIE_SECRET: secret,
        PUSH_ENGINE: 'redis',
        ...backend.env(),
        PUSH_REDIS_PREFIX: prefix,
        PUSH_NODE_TTL_MS: String(NODE_TTL_MS),
        PUSH_HEARTBEAT_INTERVAL_MS: String(HEARTBEAT.interval),
        PUSH_HEARTBEAT_TIMEOUT_MS: String(HEARTBEAT.timeout),
        PUSH_RESUME_WINDOW_MS: String(WINDOW_MS),
        ...(gateway ? {} : { PUSH_GATEWAY: 'off' }),
      });
      nodes.push(node);
      return node;
    };
    const portOf = (node: NodeProcess) => Number(new URL(node.url).port);
    /** The official client, through the balancer, bound as alice in room by its bind hook (through C). */
    const newClient = () => {
      const client = new RecordingClient<Pushed>(balancer.wsUrl, {
        backoff: { initial: 100, max: 400 },
        bind: async (clientId) => {
          const http = await new HttpClient(C.url).login('alice');
          const res = await http.post('/bind', { client_id: clientId, group: 'room' });
          if (res.status !== 200) throw new Error(`bind: ${res.status} ${JSON.stringify(res.body)}`);
        },
      });
      clients.push(client);
      return client;
    };
    /**
     * One push through C to alice's uid, the room, everyone, or the client's client_id as it is now, in turn; returns
     * C's answer. A push C says reached nobody (an old client_id, once moved) is not expected by the client.
     */
    const push = async (): Promise<{ delivered: number; held: number }> => {
      const i = n++;
      const kinds = [{ uid: 'alice' }, { group: 'room' }, { all: true }, { client_id: c.clientId }];
      const target = kinds[i % 4];
      const data = { n: i, to: Object.keys(target)[0] };
      const res = await sender.post('/send', { ...target, message: data });
      if (res.status !== 200) throw new Error(`send: ${res.status} ${JSON.stringify(res.body)}`);
      if (res.body.delivered + res.body.held > 0) sent.push({ type: 'message', from: 'sender', data });
      return res.body;
    };
    /** Pushes every 100 ms until `until` holds, then `after` more; resolves to C's answers. */
    const pushWhile = async (until: (answers: { held: number }[]) => boolean | Promise<boolean>, after = 3) => {
      const answers: { delivered: number; held: number }[] = [];
      let extra = 0;
      while (extra < after) {
        answers.push(await push());
        if (await until(answers)) extra++;
        await new Promise((done) => setTimeout(done, 100));
      }
      return answers;
    };
    const presence = async (uid: string) => (await sender.get(`/presence/${uid}`)).body as { connections: number };
    const withOutputs = (body: () => Promise<void>) => async () => {
      try {
        await body();
      } catch (error) {
        if (error instanceof Error) error.message += `\n\n${nodes.map((node) => node.output(3000)).join('\n')}`;
        throw error;
      }
    };
    const expectAllReceived = async (client: RecordingClient<Pushed>) => {
      await client.received(sent.length, DEADLINE_MS);
      expect(client.messages).toEqual(sent);
    };

    beforeAll(async () => {
      await backend.start();
      const started = await Promise.allSettled([startNode('A'), startNode('B'), startNode('C', false)]);
      [A, B, C] = started.map((result) => {
        if (result.status === 'rejected') throw result.reason;
        return result.value;
      });
      balancer = await TcpBalancer.start([portOf(A)]);
      sender = await new HttpClient(C.url).login('sender');
    }, 120_000);

    afterAll(async () => {
      for (const client of clients) client.close();
      for (const socket of sockets) socket.socket.terminate();
      await balancer?.close();
      await Promise.all(nodes.map((node) => node.kill('SIGKILL')));
      await backend.close();
    });

    it(
      'a network cut: the client resumes on the other node with its uid and group and a new client_id, gets every message once and in order, and is not bound again',
      withOutputs(async () => {
        c = newClient();
        await c.open();
        await c.until('bound', () => c.binds.length === 1);
        await eventually('alice bound', async () => (await presence('alice')).connections === 1);
        const first = c.clientId;
        expect(await push()).toEqual({ delivered: 1, held: 0 });
        await c.received(1);

        balancer.cut();
        balancer.setTargets([portOf(B)]);
        // Into the dead connection first (delivered, lost on the wire), then held once A noticed: all in history.
        const answers = await pushWhile((so) => so.some((a) => a.held === 1));
        expect(answers.at(-1)).toEqual({ delivered: 0, held: 1 });
        balancer.heal();

        const resumed = await c.resumed(1, DEADLINE_MS);
        expect(resumed).toMatchObject({ resumed: true, recovered: true, previousClientId: first });
        expect(resumed.clientId.slice(0, 16)).not.toBe(first.slice(0, 16)); // another node: another client_id
        await expectAllReceived(c);
        expect(c.binds).toHaveLength(1);

        // The old client_id answers like a closed connection; the new one has alice's bindings.
        expect((await sender.post('/send', { client_id: first, message: 'to the old id' })).body).toEqual({ delivered: 0, held: 0 });
        expect(await presence('alice')).toMatchObject({ online: true, connections: 1 });
        const groups = await new HttpClient(C.url).login('alice');
        expect((await groups.post('/join', { client_id: resumed.clientId, group: 'room' })).body).toEqual({
          client_id: resumed.clientId,
          groups: ['room'],
        });
      }),
    );

    it(
      'a graceful restart of its node (SIGTERM): the client resumes on the other node, recovered',
      withOutputs(async () => {
        const before = c.clientId;
        balancer.setTargets([portOf(A)]);
        const stopping = B.terminate();
        let exited = false;
        void stopping.then(() => (exited = true));
        await pushWhile(() => exited);
        expect(await stopping).toMatchObject({ code: 0 });
        const resumed = await c.resumed(2, DEADLINE_MS);
        expect(resumed).toMatchObject({ resumed: true, recovered: true, previousClientId: before });
        await expectAllReceived(c);
        expect(c.binds).toHaveLength(1);
        B = await startNode('B2');
        balancer.setTargets([portOf(A), portOf(B)]);
      }),
    );

    it(
      'a SIGKILLed node: the client resumes on the other node with its bindings once the node is known dead, and every message arrives or it is told recovered: false',
      withOutputs(async () => {
        const before = c.clientId;
        const holder = [A, B].find((node) => nodes.includes(node) && before.startsWith(nodeIdOf(node)))!;
        const other = holder === A ? B : A;
        balancer.setTargets([portOf(other)]);
        await holder.kill('SIGKILL');
        await pushWhile(() => c.resumes.length >= 3, 2);
        const resumed = await c.resumed(3, DEADLINE_MS);
        expect(resumed).toMatchObject({ resumed: true, previousClientId: before });
        if (resumed.recovered) {
          await expectAllReceived(c);
        } else {
          // Told: what did arrive is in order, once each.
          const received = c.messages.map((m) => m.data.n);
          expect(received).toEqual([...new Set(received)].sort((x, y) => x - y));
          sent.splice(0, sent.length, ...c.messages);
        }
        expect(c.binds).toHaveLength(1);
        expect(await presence('alice')).toMatchObject({ online: true, connections: 1 });
        const replacement = await startNode(holder === A ? 'A2' : 'B3');
        if (holder === A) A = replacement;
        else B = replacement;
        balancer.setTargets([portOf(A), portOf(B)]);
      }),
    );

    it(
      'a resume token works once, across nodes: a second client presenting it is refused, and so is a forged one',
      withOutputs(async () => {
        const hello = async (node: NodeProcess, frame: Record<string, unknown> = {}) => {
          const socket = await TestClient.open(node.wsUrl, {}, ['nest-push.v1']);
          sockets.push(socket);
          socket.send(JSON.stringify({ type: 'hello', ...frame }));
          return { socket, welcome: await socket.next() };
        };
        const owner = await hello(A);
        owner.socket.socket.terminate();
        const resumed = await hello(B, { resume: owner.welcome.token });
        expect(resumed.welcome).toMatchObject({ type: 'welcome', resumed: true, previous_client_id: owner.welcome.client_id });
        const again = await hello(A, { resume: owner.welcome.token });
        expect(again.welcome).toMatchObject({ resumed: false, recovered: false });
        expect(['not_found', 'refused']).toContain(again.welcome.reason);
        const forged = await hello(B, { resume: `${resumed.welcome.client_id}.${'A'.repeat(22)}` });
        expect(forged.welcome).toMatchObject({ resumed: false, reason: 'refused' });
      }),
    );

    it(
      'the window passed: the client is told recovered: false, starts afresh and is bound again',
      withOutputs(async () => {
        const before = c.clientId;
        const binds = c.binds.length;
        balancer.cut();
        // Gone for good once the holder's window passed: alice has no connection left anywhere.
        await eventually('alice gone', async () => (await presence('alice')).connections === 0, WINDOW_MS + DEADLINE_MS);
        balancer.heal();
        const resumed = await c.resumed(4, DEADLINE_MS);
        expect(resumed).toMatchObject({ resumed: false, recovered: false, reason: 'not_found', previousClientId: before });
        await c.until('bound again', () => c.binds.length === binds + 1, DEADLINE_MS);
        await eventually('alice bound again', async () => (await presence('alice')).connections === 1);
      }),
    );

    if (backend.outage) {
      const outage = backend.outage;
      it(
        'Redis restarted empty while the client was away: it resumes, and is told recovered: false',
        withOutputs(async () => {
          await c.open();
          balancer.cut();
          await push(); // one push into the cut, then wait for the holder to notice
          await eventually('held', async () => (await sender.post('/send', { uid: 'alice', message: 'held?' })).body.held === 1);
          await outage.stop();
          await outage.restart();
          // The holder writes its connections back (the dropped one too) once it sees Redis came back empty.
          await eventually('index restored', async () => (await presence('alice')).connections === 1, DEADLINE_MS);
          balancer.heal();
          const resumed = await c.resumed(5, DEADLINE_MS);
          expect(resumed).toMatchObject({ resumed: true, recovered: false });
        }),
      );
    }
  });
}

/** A node's id, as its process logs it at start (the first 16 characters of its client_ids). */
function nodeIdOf(node: NodeProcess): string {
  return /node=([0-9a-f]{16})/.exec(node.output())?.[1] ?? '?';
}

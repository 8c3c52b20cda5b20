import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { NodeProcess } from './support/node-process';
import { RecordingClient } from './support/recording-client';
import { RedisServer } from './support/redis-server';
import { TcpBalancer } from './support/tcp-balancer';
import { HttpClient } from './support/test-app';

/*
 * A rolling restart of a two-node cluster (the example app, real processes, one Redis) with 1,000 official clients
 * behind a TCP load balancer, while a sender pushes 100 messages a second to uids and groups through a push-only node.
 * Each gateway node in turn is taken out of the balancer and stopped with SIGTERM (it hands its clients over: 1012),
 * then replaced. Nothing may be lost, and nobody may be bound again.
 */

jest.setTimeout(240_000);

const ROOT = resolve(__dirname, '..');
const CLIENTS = 1000;
const GROUPS = 20;
const SEND_EVERY_MS = 10;
const DEADLINE_MS = 60_000;

type Data = { kind: 'uid' | 'group' | 'all'; to: string; seq: number };
type Pushed = { type: 'message'; from: string; data: Data };

describe(`rolling restart of 2 gateway nodes with ${CLIENTS} clients while pushing`, () => {
  const prefix = `rolling-${randomBytes(4).toString('hex')}:`;
  const env: Record<string, string> = {
    COOKIE_SECRET: randomBytes(16).toString('hex'),
    PUSH_ENGINE: 'redis',
    PUSH_REDIS_PREFIX: prefix,
    PUSH_NODE_TTL_MS: '2000',
    PUSH_RESUME_WINDOW_MS: '60000',
    // Behind the balancer every client has one address.
    PUSH_MAX_CONNECTIONS_PER_ADDRESS: 'off',
  };
  const nodes: NodeProcess[] = [];
  const clients: RecordingClient<Pushed>[] = [];
  let redis: RedisServer;
  let balancer: TcpBalancer;
  let C: NodeProcess;

  const start = async (name: string, gateway = true) => {
    const node = await NodeProcess.start(name, { ...env, ...(gateway ? {} : { PUSH_GATEWAY: 'off' }) }, 30_000);
    nodes.push(node);
    return node;
  };
  const portOf = (node: NodeProcess) => Number(new URL(node.url).port);

  beforeAll(async () => {
    execFileSync('npx', ['nest', 'build'], { cwd: ROOT, stdio: 'pipe', timeout: 120_000 });
    redis = await RedisServer.start();
    env.REDIS_URL = redis.url;
  }, 150_000);

  afterAll(async () => {
    for (const client of clients) client.close();
    await balancer?.close();
    await Promise.all(nodes.map((node) => node.kill('SIGKILL')));
    await redis?.close();
  });

  it('loses nothing and binds nobody again', async () => {
    let [A, B] = await Promise.all([start('A'), start('B')]);
    C = await start('C', false);
    balancer = await TcpBalancer.start([portOf(A), portOf(B)]);

    // Every client binds once, through C, as its own uid and in one of the groups.
    const cookies = new Map<string, string>();
    /** Clients whose bind has completed (its uid bound and its group joined). */
    const joined = new Set<number>();
    for (let i = 0; i < CLIENTS; i++) {
      const uid = `u${i}`;
      const client = new RecordingClient<Pushed>(balancer.wsUrl, {
        backoff: { initial: 1000, max: 5000 },
        bind: async (clientId) => {
          const http = new HttpClient(C.url, cookies.get(uid));
          if (!http.cookie) cookies.set(uid, (await http.login(uid)).cookie!);
          const res = await http.post('/bind', { client_id: clientId, group: `g${i % GROUPS}` });
          if (res.status !== 200) throw new Error(`bind ${uid}: ${res.status} ${JSON.stringify(res.body)}`);
          joined.add(i);
        },
      });
      clients.push(client);
    }
    const bound = () => clients.every((c) => c.binds.length === 1);
    // A message sent before a client joined its group is not for it: the sender starts once every bind completed.
    await Promise.all(clients.map((c, i) => c.until('bound', () => joined.has(i), DEADLINE_MS)));
    await eventually('every client in the index', async () => {
      const stats = (await new HttpClient(C.url).get('/stats')).body as { clients: number };
      return stats.clients === CLIENTS;
    });

    // The sender: 100 pushes a second, to a random uid or group, each target numbering its own messages.
    const sender = await new HttpClient(C.url).login('sender');
    const seqs = new Map<string, number>();
    const failures: string[] = [];
    let sending = true;
    let sent = 0;
    const pushing = (async () => {
      while (sending) {
        const group = Math.random() < 0.3;
        const to = group ? `g${Math.floor(Math.random() * GROUPS)}` : `u${Math.floor(Math.random() * CLIENTS)}`;
        const seq = (seqs.get(to) ?? 0) + 1;
        const data: Data = { kind: group ? 'group' : 'uid', to, seq };
        const res = await sender.post('/send', { [group ? 'group' : 'uid']: to, message: data });
        if (res.status === 200 && res.body.delivered + res.body.held > 0) seqs.set(to, seq);
        else failures.push(`${to}#${seq}: ${res.status} ${JSON.stringify(res.body)}`);
        sent++;
        await new Promise((done) => setTimeout(done, SEND_EVERY_MS));
      }
    })();

    // Rolling restart: out of the balancer, SIGTERM (it hands its clients over), replaced, back in.
    const restart = async (old: NodeProcess, other: NodeProcess, name: string) => {
      balancer.setTargets([portOf(other)]);
      expect(await old.terminate()).toMatchObject({ code: 0 });
      const replacement = await start(name);
      balancer.setTargets([portOf(other), portOf(replacement)]);
      return replacement;
    };
    A = await restart(A, B, 'A2');
    await eventually('A\'s clients resumed', async () => clients.every((c) => c.client.state === 'open'));
    B = await restart(B, A, 'B2');
    await eventually('B\'s clients resumed', async () => clients.every((c) => c.client.state === 'open'));
    await new Promise((done) => setTimeout(done, 500));
    sending = false;
    await pushing;

    // A last push to everyone: once a client has it, everything sent to it before has arrived (per-target order).
    const marker = await sender.post('/send', { all: true, message: { kind: 'all', to: 'all', seq: 1 } });
    expect(marker.body).toEqual({ delivered: CLIENTS, held: 0 });
    await Promise.all(
      clients.map((c) => c.until('marker', () => c.messages.some((m) => m.data.kind === 'all'), DEADLINE_MS)),
    );

    expect(failures).toEqual([]);
    expect(sent).toBeGreaterThan(100);
    const problems: string[] = [];
    clients.forEach((c, i) => {
      const uid = `u${i}`;
      const group = `g${i % GROUPS}`;
      const got = (kind: Data['kind'], to: string) => c.messages.filter((m) => m.data.kind === kind && m.data.to === to).map((m) => m.data.seq);
      const expected = (to: string) => Array.from({ length: seqs.get(to) ?? 0 }, (_, k) => k + 1);
      if (JSON.stringify(got('uid', uid)) !== JSON.stringify(expected(uid))) problems.push(`${uid}: uid messages ${JSON.stringify(got('uid', uid))}`);
      if (JSON.stringify(got('group', group)) !== JSON.stringify(expected(group))) {
        problems.push(`${uid}: ${group} messages ${JSON.stringify(got('group', group))} of ${seqs.get(group)}`);
      }
      if (c.binds.length !== 1) problems.push(`${uid}: bound ${c.binds.length} times`);
      if (c.resumes.length === 0) problems.push(`${uid}: never resumed`);
      for (const r of c.resumes) if (!r.resumed || !r.recovered) problems.push(`${uid}: ${JSON.stringify(r)}`);
    });
    expect(problems.slice(0, 20)).toEqual([]);
    expect(bound()).toBe(true);
  });
});

async function eventually(what: string, check: () => Promise<boolean>, ms = DEADLINE_MS): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${ms} ms`);
    await new Promise((done) => setTimeout(done, 100));
  }
}

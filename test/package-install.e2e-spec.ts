import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { ConsumerProcess, run } from './support/consumer-app';
import { REPO_ROOT } from './support/node-process';
import { RedisServer } from './support/redis-server';
import { TestClient, UpgradeRefused } from './support/test-client';

/**
 * What a Nest team gets from npm: the library is packed (`npm pack`, whose prepack builds it), a fresh Nest 11 app
 * (test/fixtures/consumer-app: its own package.json and lock, its src/ = the README's consumer example) is
 * installed with `npm ci` plus the tarball, compiled with strict TypeScript and `skipLibCheck: false`, started on
 * Express and on Fastify, and driven over real HTTP and a real ws client through the seed flow. The engine contract
 * suite (`nest-push-channel/testing`) runs there under node:test. Then the Redis engine: first without ioredis (the
 * start must fail with what to install), then with it, across two nodes.
 * Everything comes from the npm registry, as for a user; nothing is taken from this repository's node_modules.
 */
describe('the packed nest-push-channel in a fresh Nest 11 app', () => {
  const LIB_DIR = join(REPO_ROOT, 'libs', 'push');
  const FIXTURE = join(REPO_ROOT, 'test', 'fixtures', 'consumer-app');
  /** The optional peers installed for the last tests (the versions this repository is tested with). */
  const OPTIONAL_PEERS = ['ioredis@5.9.2', 'prom-client@15.1.3', '@nestjs/terminus@11.1.1'];
  const TOKENS = { AUTH_TOKENS: 'alice-token:alice,bob-token:bob,carol-token:carol' };

  let work = '';
  let app = '';
  let tarball = '';
  const processes: ConsumerProcess[] = [];
  const sockets: TestClient[] = [];
  let redis: RedisServer | undefined;

  const npm = (args: string[], timeoutMs = 150_000) =>
    run('npm', [...args, '--no-audit', '--no-fund'], { cwd: app, timeoutMs });
  const tsc = (config: string) => run(process.execPath, [join(app, 'node_modules/typescript/bin/tsc'), '-p', config], { cwd: app });
  const start = async (name: string, script: string, env: Record<string, string> = {}) => {
    await compiled();
    const node = await ConsumerProcess.start(name, app, script, { ...TOKENS, ...env });
    processes.push(node);
    return node;
  };
  const connect = async (url: string) => {
    const client = await TestClient.connect(url);
    sockets.push(client);
    return client;
  };
  const installed = (name: string) => existsSync(join(app, 'node_modules', name, 'package.json'));
  /** Compiles the app once (the tests that run it wait for it, so any one of them can run alone with -t). */
  let compiling: Promise<unknown> | undefined;
  const compiled = () => (compiling ??= Promise.all([tsc('tsconfig.json'), tsc('tsconfig.node10.json')]));
  /** The same for extras/ (the optional entry points and the contract suite), once the optional peers are in. */
  let compilingExtras: Promise<unknown> | undefined;
  const extrasCompiled = () =>
    (compilingExtras ??= Promise.all([tsc('tsconfig.extras.json'), tsc('tsconfig.extras.node10.json')]));

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'push-consumer-'));
    app = join(work, 'app');
    // No build before: prepack must make the tarball complete on its own.
    await run('npm', ['pack', '--pack-destination', work], { cwd: LIB_DIR, timeoutMs: 120_000 });
    const packed = readdirSync(work).filter((file) => file.endsWith('.tgz'));
    expect(packed).toEqual([expect.stringMatching(/^nest-push-channel-\d+\.\d+\.\d+.*\.tgz$/)]);
    tarball = join(work, packed[0]);
    cpSync(FIXTURE, app, {
      recursive: true,
      filter: (source) => !/(^|[\\/])(node_modules|dist)([\\/]|$)/.test(relative(FIXTURE, source)),
    });
    // --include=dev: a CI that exports NODE_ENV=production must still get TypeScript and the @types.
    await npm(['ci', '--include=dev']);
    await npm(['install', '--no-save', tarball]);
  }, 300_000);

  afterEach(async () => {
    for (const client of sockets.splice(0)) await client.close();
    await Promise.all(processes.splice(0).map((node) => node.kill()));
  });

  afterAll(async () => {
    await redis?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('packs the build, README, LICENSE and CHANGELOG, and neither sources nor source maps', async () => {
    const files = (await run('tar', ['-tzf', tarball], { cwd: work })).split('\n').filter(Boolean);
    for (const file of ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'dist/index.js', 'dist/index.d.ts']) {
      expect(files).toContain(`package/${file}`);
    }
    // The contract suite ships (nest-push-channel/testing); the internal test helpers do not.
    expect(files).toEqual(expect.arrayContaining(['package/dist/testing/index.js', 'package/dist/testing/index.d.ts']));
    expect(files.filter((file) => /\.map$|(?<!\.d)\.ts$|\.spec\.|\/src\/|\.tsbuildinfo$/.test(file))).toEqual([]);
    expect(files.filter((file) => file.includes('/test-support/'))).toEqual([]);

    const pkg = join(app, 'node_modules', 'nest-push-channel');
    for (const doc of ['README.md', 'LICENSE', 'CHANGELOG.md']) {
      expect(readFileSync(join(pkg, doc), 'utf8')).toBe(readFileSync(join(REPO_ROOT, doc), 'utf8'));
    }
    // A .js that still names a map would send debuggers to a file that is not there.
    const jsNamingAMap = listFiles(join(pkg, 'dist'))
      .filter((file) => file.endsWith('.js') && readFileSync(file, 'utf8').includes('sourceMappingURL'))
      .map((file) => relative(pkg, file));
    expect(jsNamingAMap).toEqual([]);
  });

  it('installs without the optional peers and compiles strict with skipLibCheck: false (nodenext and node10)', async () => {
    // The fixture has neither these nor @types/ws: the package's own dependencies must bring what its types need.
    expect(['ioredis', 'prom-client', '@nestjs/terminus'].filter(installed)).toEqual([]);
    expect(installed('@types/ws')).toBe(true);
    const tsconfig = JSON.parse(readFileSync(join(app, 'tsconfig.json'), 'utf8')) as {
      compilerOptions: Record<string, unknown>;
    };
    expect(tsconfig.compilerOptions).toMatchObject({ strict: true, skipLibCheck: false });

    await compiled();
    expect(existsSync(join(app, 'dist', 'main.js'))).toBe(true);
    expect(existsSync(join(app, 'dist', 'main.fastify.js'))).toBe(true);
  }, 120_000);

  it('resolves only the entry points of the exports map (no deep imports)', async () => {
    const probe = (specifier: string) =>
      run(process.execPath, ['-e', `console.log(require.resolve(${JSON.stringify(specifier)}))`], { cwd: app }).then(
        (out) => out.trim(),
        (error: Error) => (/ERR_PACKAGE_PATH_NOT_EXPORTED/.test(error.message) ? 'not exported' : error.message),
      );
    expect(await probe('nest-push-channel')).toBe(join(app, 'node_modules/nest-push-channel/dist/index.js'));
    expect(await probe('nest-push-channel/package.json')).toBe(join(app, 'node_modules/nest-push-channel/package.json'));
    expect(await probe('nest-push-channel/testing')).toBe(join(app, 'node_modules/nest-push-channel/dist/testing/index.js'));
    expect(await probe('nest-push-channel/dist/push.service')).toBe('not exported');
  });

  describe.each([
    ['Express', 'dist/main.js'],
    ['Fastify', 'dist/main.fastify.js'],
  ])('on %s', (platform, script) => {
    it('runs the seed flow: connect -> init -> bind (POST) -> sendToUid (POST) reaches the socket', async () => {
      const node = await start(platform, script);
      await seedFlow(node, node, 'alice');
    }, 120_000);

    it('answers an upgrade on another path with 404', async () => {
      const node = await start(platform, script);
      const refused = await TestClient.open(node.wsUrl('/not-the-push-path')).then(
        (client) => {
          sockets.push(client);
          return null;
        },
        (error: unknown) => error,
      );
      expect(refused).toBeInstanceOf(UpgradeRefused);
      expect((refused as UpgradeRefused).status).toBe(404);
    }, 120_000);

    it('closes sockets with 1001 on SIGTERM and exits', async () => {
      const node = await start(platform, script);
      const client = await connect(node.wsUrl());
      const exit = await node.kill('SIGTERM');
      expect(await client.closed).toEqual({ code: 1001, reason: expect.any(String) });
      // Nest's shutdown hook re-raises the signal once the app is closed.
      expect(exit).toEqual({ code: null, signal: 'SIGTERM' });
    }, 120_000);
  });

  it('fails at start, saying what to install, when the Redis engine is chosen without ioredis', async () => {
    expect(installed('ioredis')).toBe(false); // this test runs before the next one installs it
    await compiled();
    const node = ConsumerProcess.spawn('redis without ioredis', app, 'dist/main.js', {
      ...TOKENS,
      REDIS_URL: 'redis://127.0.0.1:1',
    });
    processes.push(node);
    const exit = await node.exited;
    expect(exit).toEqual({ code: 1, signal: null });
    const printed = node.printed;
    expect(printed).toContain(
      'PushMissingPeerError: nest-push-channel: the Redis engine (engine: { type: \'redis\' }) needs the package ' +
        '"ioredis", which is not installed. Install it next to nest-push-channel: npm install ioredis@"^5.0.0"',
    );
    expect(printed).not.toMatch(/Cannot find module|Require stack/);
    expect(printed).not.toContain('listening on');
  }, 120_000);

  it.each([
    ['nest-push-channel/prometheus', 'the Prometheus metrics (nest-push-channel/prometheus)', 'prom-client', '^15.0.0'],
    ['nest-push-channel/health', 'the health indicator (nest-push-channel/health)', '@nestjs/terminus', '^11.0.0'],
  ])('fails to load %s without its peer, saying what to install', async (entry, feature, peer, range) => {
    expect(installed(peer)).toBe(false); // these run before the optional peers are installed
    const failure = await run(process.execPath, ['-e', `require(${JSON.stringify(entry)})`], { cwd: app }).then(
      () => 'it loaded',
      (error: Error) => error.message,
    );
    expect(failure).toContain(
      `PushMissingPeerError: nest-push-channel: ${feature} needs the package "${peer}", which is not installed. ` +
        `Install it next to nest-push-channel: npm install ${peer}@"${range}"`,
    );
    expect(failure).not.toMatch(/Cannot find module/);
  });

  describe('with the optional peers installed', () => {
    beforeAll(async () => {
      // The tarball again: `npm install` prunes packages that are in neither package.json nor the lock.
      await npm(['install', '--no-save', tarball, ...OPTIONAL_PEERS]);
    }, 180_000);

    it('compiles the optional entry points (nodenext and node10) and they register metrics and report health', async () => {
      expect(['ioredis', 'prom-client', '@nestjs/terminus'].filter((name) => !installed(name))).toEqual([]);
      await extrasCompiled();
      const printed = await run(process.execPath, ['dist-extras/optional-entry-points.js'], { cwd: app });
      const report = JSON.parse(printed.trim().split('\n').pop()!) as {
        names: string[];
        exposition: string;
        health: unknown;
      };
      expect(report.names).toEqual(expect.arrayContaining(['nest_push_connections', 'nest_push_frames_delivered_total']));
      for (const name of report.names) expect(report.exposition).toContain(`# TYPE ${name} `);
      expect(report.exposition).toMatch(/^nest_push_connections 0$/m);
      expect(report.health).toEqual({ push: { status: 'up', engine: 'memory', reachable: true, shuttingDown: false } });
    }, 120_000);

    it('compiles the contract suite of nest-push-channel/testing (nodenext and node10), and it passes under node:test', async () => {
      // extras/memory-engine-contract.ts registers the suite with node:test's functions, on the memory engine.
      await extrasCompiled();
      const report = await run(process.execPath, ['--test', 'dist-extras/memory-engine-contract.js'], { cwd: app });
      expect(report).toMatch(/^# pass 18$/m);
      expect(report).toMatch(/^# fail 0$/m);
    }, 120_000);

    it('runs on the Redis engine: an Express and a Fastify node deliver to each other', async () => {
      redis = await RedisServer.start();
      const env = { REDIS_URL: redis.url };
      const [express, fastify] = await Promise.all([
        start('Express', 'dist/main.js', env),
        start('Fastify', 'dist/main.fastify.js', env),
      ]);
      await seedFlow(express, fastify, 'alice');
      await seedFlow(fastify, express, 'carol');
    }, 120_000);
  });

  /**
   * A socket on `gateway`, bound by `uid` over HTTP there; bob sends to `uid` through `sender`. Also checks that the
   * example's guard refuses a bind without a login.
   */
  async function seedFlow(gateway: ConsumerProcess, sender: ConsumerProcess, uid: string): Promise<void> {
    const client = await connect(gateway.wsUrl());
    expect(client.clientId).toMatch(/^[0-9a-f]{48}$/);

    expect(await post(gateway, '/bind', null, { client_id: client.clientId })).toEqual({
      status: 401,
      body: { statusCode: 401, error: 'Unauthorized', message: 'log in first' },
    });
    expect(await post(gateway, '/bind', `${uid}-token`, { client_id: client.clientId })).toEqual({
      status: 200,
      body: { client_id: client.clientId, uid },
    });
    expect(await post(sender, '/send', 'bob-token', { to: uid, text: `hello ${uid}` })).toEqual({
      status: 200,
      body: { delivered: 1 },
    });
    expect(await client.next()).toEqual({ type: 'message', from: 'bob', text: `hello ${uid}` });
    expect(await post(sender, '/send', 'bob-token', { to: 'nobody', text: 'nobody home' })).toEqual({
      status: 200,
      body: { delivered: 0 },
    });
    expect(client.pending()).toEqual([]);
  }
});

async function post(
  node: ConsumerProcess,
  path: string,
  token: string | null,
  body: unknown,
): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${node.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? listFiles(join(dir, entry.name)) : [join(dir, entry.name)],
  );
}

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { transpileModule, ModuleKind, ScriptTarget } from 'typescript';
import { OPTIONAL_PEERS, PushMissingPeerError, requireOptionalPeer } from './optional-peer';

const packageDir = join(__dirname, '..', '..');

describe('optional peers', () => {
  it('are the optional peerDependencies of package.json, with the same ranges', () => {
    const pkg = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as {
      peerDependencies: Record<string, string>;
      peerDependenciesMeta: Record<string, { optional?: boolean }>;
      dependencies?: Record<string, string>;
    };
    const optional = Object.keys(pkg.peerDependenciesMeta).filter((name) => pkg.peerDependenciesMeta[name].optional);
    const declared = Object.values(OPTIONAL_PEERS);
    expect(declared.map((peer) => peer.name).sort()).toEqual(optional.sort());
    for (const peer of declared) {
      expect({ name: peer.name, range: pkg.peerDependencies[peer.name] }).toEqual({ name: peer.name, range: peer.range });
      expect(pkg.dependencies?.[peer.name]).toBeUndefined();
    }
  });

  it('loads an installed peer', () => {
    const ioredis = requireOptionalPeer<{ Redis?: unknown }>(OPTIONAL_PEERS.ioredis);
    expect(typeof ioredis.Redis).toBe('function');
  });

  it('names the feature, the package and the install command when the peer is missing', () => {
    const peer = { name: 'nest-push-channel-no-such-peer', range: '^3.0.0', feature: 'the frobnicator' };
    let thrown: unknown;
    try {
      requireOptionalPeer(peer);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(PushMissingPeerError);
    const error = thrown as PushMissingPeerError;
    expect(error.code).toBe('missing_peer_dependency');
    expect(error.peer).toBe(peer);
    expect(error.message).toBe(
      'nest-push-channel: the frobnicator needs the package "nest-push-channel-no-such-peer", which is not ' +
        'installed. Install it next to nest-push-channel: npm install nest-push-channel-no-such-peer@"^3.0.0"',
    );
    expect(error.cause).toBeUndefined();
  });

  describe("under plain Node (its own resolver and messages, not Jest's)", () => {
    // optional-peer.ts compiled into a directory of its own, with a node_modules beside it, and run by node.
    let dir = '';
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'push-optional-peer-'));
      const source = readFileSync(join(__dirname, 'optional-peer.ts'), 'utf8');
      const options = { module: ModuleKind.CommonJS, target: ScriptTarget.ES2022 };
      writeFileSync(join(dir, 'optional-peer.js'), transpileModule(source, { compilerOptions: options }).outputText);
      const broken = join(dir, 'node_modules', 'broken-peer');
      mkdirSync(broken, { recursive: true });
      writeFileSync(join(broken, 'package.json'), JSON.stringify({ name: 'broken-peer', version: '1.0.0' }));
      writeFileSync(join(broken, 'index.js'), "require('absent-dependency-of-the-peer');\n");
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    /** What `requireOptionalPeer` threw for `name` in a node process: the error's name and message. */
    const tryIn = (name: string): { name: string; message: string } => {
      const script =
        `const { requireOptionalPeer } = require('./optional-peer');` +
        `try { requireOptionalPeer({ name: ${JSON.stringify(name)}, range: '^1.0.0', feature: 'a test' }); ` +
        `console.log('{}'); } catch (e) { console.log(JSON.stringify({ name: e.name, message: e.message })); }`;
      return JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: dir, encoding: 'utf8' })) as {
        name: string;
        message: string;
      };
    };

    it('turns a missing peer into PushMissingPeerError', () => {
      expect(tryIn('absent-peer')).toEqual({
        name: 'PushMissingPeerError',
        message: expect.stringContaining('npm install absent-peer@"^1.0.0"'),
      });
    });

    it("rethrows the peer's own missing dependency as it is: the install hint would be wrong", () => {
      expect(tryIn('broken-peer')).toEqual({
        name: 'Error',
        message: expect.stringMatching(/^Cannot find module 'absent-dependency-of-the-peer'/),
      });
    });
  });
});

import { mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
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

  describe('a peer that is installed but fails to load', () => {
    // Found from optional-peer.ts the way an installed peer is: in a node_modules above it (libs/push/node_modules,
    // ignored by git), created for this test only.
    const name = `push-test-broken-peer-${process.pid}`;
    const dir = join(packageDir, 'node_modules', name);
    beforeAll(() => {
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', main: 'index.js' }));
      writeFileSync(join(dir, 'index.js'), "require('push-test-absent-dependency');\n");
    });
    afterAll(() => {
      rmSync(dir, { recursive: true, force: true });
      const parent = join(packageDir, 'node_modules');
      if (readdirSync(parent).length === 0) rmdirSync(parent);
    });

    it("rethrows the peer's own missing dependency as it is: the install hint would be wrong", () => {
      const peer = { name, range: '^1.0.0', feature: 'a test' };
      expect(() => requireOptionalPeer(peer)).toThrow(/push-test-absent-dependency/);
      expect(() => requireOptionalPeer(peer)).not.toThrow(PushMissingPeerError);
    });
  });
});

import { createHash } from 'node:crypto';
import { connectionTargets, targetKey } from './target-key';

describe('target-key', () => {
  describe('targetKey', () => {
    it('writes everyone, a client, a uid and a group readably', () => {
      expect(targetKey({ kind: 'all' })).toBe('a');
      expect(targetKey({ kind: 'client', name: 'abc123' })).toBe('c:abc123');
      expect(targetKey({ kind: 'uid', name: 'user-1' })).toBe('u:user-1');
      expect(targetKey({ kind: 'group', name: 'room:1' })).toBe('g:room:1');
    });

    it('keeps a name of 32 characters as it is', () => {
      const name = 'n'.repeat(32);
      expect(targetKey({ kind: 'uid', name })).toBe(`u:${name}`);
      expect(targetKey({ kind: 'group', name })).toBe(`g:${name}`);
    });

    it('hashes a longer name into 22 characters of its SHA-256', () => {
      const name = 'n'.repeat(33);
      const hash = createHash('sha256').update(name, 'utf8').digest('base64url').slice(0, 22);
      expect(targetKey({ kind: 'uid', name })).toBe(`u#${hash}`);
      expect(targetKey({ kind: 'group', name })).toBe(`g#${hash}`);
      expect(targetKey({ kind: 'group', name: 'é'.repeat(500) })).toMatch(/^g#[A-Za-z0-9_-]{22}$/);
    });

    it('gives a long name the same key every time, and different long names different keys', () => {
      const name = `team-${'x'.repeat(40)}`;
      expect(targetKey({ kind: 'group', name })).toBe(targetKey({ kind: 'group', name: `team-${'x'.repeat(40)}` }));
      const similar = [`${name}1`, `${name}2`, `1${name}`, name.toUpperCase(), name];
      const keys = similar.map((n) => targetKey({ kind: 'group', name: n }));
      expect(new Set(keys).size).toBe(similar.length);
    });

    it('keeps the kinds apart, hashed or not, so a name never passes for another kind', () => {
      const short = ['u', 'g', 'c'].map((prefix) => `${prefix}:same`);
      expect(targetKey({ kind: 'uid', name: 'same' })).toBe(short[0]);
      expect(targetKey({ kind: 'group', name: 'same' })).toBe(short[1]);
      expect(targetKey({ kind: 'client', name: 'same' })).toBe(short[2]);
      // A readable name that looks like a hash still has the readable separator.
      const lookalike = `#${'A'.repeat(22)}`;
      expect(targetKey({ kind: 'group', name: lookalike })).toBe(`g:${lookalike}`);
      const long = 'l'.repeat(40);
      expect(targetKey({ kind: 'group', name: long })).not.toBe(targetKey({ kind: 'uid', name: long }));
    });
  });

  describe('connectionTargets', () => {
    it('lists everyone, the client, its uid and each of its groups, in that order', () => {
      const conn = { id: 'c1', uid: 'u1', groups: new Set(['g1', 'g2']) };
      expect(connectionTargets(conn)).toEqual([
        { kind: 'all' },
        { kind: 'client', name: 'c1' },
        { kind: 'uid', name: 'u1' },
        { kind: 'group', name: 'g1' },
        { kind: 'group', name: 'g2' },
      ]);
    });

    it('leaves out the uid of an unbound connection', () => {
      expect(connectionTargets({ id: 'c1', uid: null, groups: [] })).toEqual([
        { kind: 'all' },
        { kind: 'client', name: 'c1' },
      ]);
    });

    it('names the client target after the client_id it is given (the one before a resume)', () => {
      const targets = connectionTargets({ id: 'c-new', uid: null, groups: ['g'] }, 'c-old');
      expect(targets).toEqual([{ kind: 'all' }, { kind: 'client', name: 'c-old' }, { kind: 'group', name: 'g' }]);
    });
  });
});

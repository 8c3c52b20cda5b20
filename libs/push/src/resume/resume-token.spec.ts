import { createHash } from 'node:crypto';
import { createClientId, createNodeId } from '../identity/client-id';
import {
  createResumeSecret,
  formatResumeToken,
  hashResumeSecret,
  keptSecretHash,
  parseResumeToken,
  sameSecretHash,
} from './resume-token';

describe('resume-token', () => {
  const clientId = createClientId(createNodeId());

  it('creates secrets of 22 base64url characters, never the same twice', () => {
    const secrets = Array.from({ length: 50 }, createResumeSecret);
    for (const secret of secrets) expect(secret).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(new Set(secrets).size).toBe(secrets.length);
  });

  it('formats <client_id>.<secret> and parses it back', () => {
    const secret = createResumeSecret();
    const token = formatResumeToken(clientId, secret);
    expect(token).toBe(`${clientId}.${secret}`);
    expect(parseResumeToken(token)).toEqual({ clientId, secret });
  });

  describe('parseResumeToken refuses', () => {
    const secret = 'A'.repeat(11) + '-_z9'.repeat(2) + 'abc';

    it('accepts the secret used below when the rest is right', () => {
      expect(secret).toHaveLength(22);
      expect(parseResumeToken(`${clientId}.${secret}`)).toEqual({ clientId, secret });
    });

    it.each([
      ['a token without a dot', () => `${clientId}${secret}`],
      ['the empty string', () => ''],
      ['a client_id of the wrong length', () => `${clientId.slice(1)}.${secret}`],
      ['an upper-case client_id', () => `${clientId.toUpperCase()}.${secret}`],
      ['a client_id that is not hex', () => `${'z'.repeat(48)}.${secret}`],
      ['an empty client_id', () => `.${secret}`],
      ['a secret one character short', () => `${clientId}.${secret.slice(1)}`],
      ['a secret one character long', () => `${clientId}.${secret}x`],
      ['a secret with a character outside base64url', () => `${clientId}.${secret.slice(1)}+`],
      ['a secret with padding', () => `${clientId}.${secret.slice(2)}==`],
      ['a second dot', () => `${clientId}.${secret}.x`],
      ['an empty secret', () => `${clientId}.`],
    ])('%s', (_label, token) => {
      expect(parseResumeToken(token())).toBeNull();
    });
  });

  it('hashes a secret with SHA-256 (32 bytes)', () => {
    const hash = hashResumeSecret('abc');
    expect(hash).toHaveLength(32);
    expect(hash.toString('hex')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    const secret = createResumeSecret();
    expect(hashResumeSecret(secret)).toEqual(createHash('sha256').update(secret, 'utf8').digest());
  });

  it('keeps the same SHA-256 as 64 hex characters', () => {
    expect(keptSecretHash('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    const secret = createResumeSecret();
    expect(keptSecretHash(secret)).toBe(hashResumeSecret(secret).toString('hex'));
  });

  describe('sameSecretHash', () => {
    const secret = createResumeSecret();

    it('is true for the presented hash of the kept secret', () => {
      expect(sameSecretHash(hashResumeSecret(secret), keptSecretHash(secret))).toBe(true);
    });

    it('is false for another secret', () => {
      expect(sameSecretHash(hashResumeSecret(secret), keptSecretHash(createResumeSecret()))).toBe(false);
      expect(sameSecretHash(hashResumeSecret(createResumeSecret()), keptSecretHash(secret))).toBe(false);
    });

    it('is false when nothing is kept', () => {
      expect(sameSecretHash(hashResumeSecret(secret), null)).toBe(false);
      expect(sameSecretHash(hashResumeSecret(secret), undefined)).toBe(false);
      expect(sameSecretHash(hashResumeSecret(secret), '')).toBe(false);
    });

    it('is false, without throwing, for hashes of different lengths or a kept value that is not hex', () => {
      const kept = keptSecretHash(secret);
      const presented = hashResumeSecret(secret);
      expect(sameSecretHash(presented.subarray(0, 16), kept)).toBe(false);
      expect(sameSecretHash(presented, kept.slice(0, 32))).toBe(false);
      expect(sameSecretHash(presented, 'z'.repeat(64))).toBe(false);
      expect(sameSecretHash(presented, `${kept.slice(0, 62)}zz`)).toBe(false);
    });
  });
});

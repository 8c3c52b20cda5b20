import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { isClientId } from '../identity/client-id';

/*
 * A resume token is `<client_id>.<secret>`: the client_id says where the connection's record lives (its node), the
 * secret (128 random bits, base64url) proves the holder owns it. Servers keep only the secret's SHA-256, so the index
 * (Redis) never holds anything a client could present. A token is good for one resume: each welcome hands out a new
 * one, so a second client presenting the same token is refused.
 */

const SECRET_BYTES = 16;
const SECRET_RE = /^[A-Za-z0-9_-]{22}$/;

/** A token split into its parts. */
export interface ResumeToken {
  clientId: string;
  secret: string;
}

/** A fresh secret (128 bits, 22 base64url characters). */
export function createResumeSecret(): string {
  return randomBytes(SECRET_BYTES).toString('base64url');
}

/** The token a client presents to resume `clientId`. */
export function formatResumeToken(clientId: string, secret: string): string {
  return `${clientId}.${secret}`;
}

/** The parts of a well-formed token, or null. */
export function parseResumeToken(token: string): ResumeToken | null {
  const dot = token.indexOf('.');
  if (dot < 0) return null;
  const clientId = token.slice(0, dot);
  const secret = token.slice(dot + 1);
  return isClientId(clientId) && SECRET_RE.test(secret) ? { clientId, secret } : null;
}

/** A presented secret's SHA-256 (32 bytes), to compare with a kept one (`sameSecretHash`). */
export function hashResumeSecret(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

/**
 * What a server keeps of a secret: its SHA-256 as 64 hex characters, the form the index and node messages carry. A
 * string, not a Buffer: every resumable connection keeps one, and a flat string costs a third of a Buffer's heap.
 */
export function keptSecretHash(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Whether a presented secret's hash is the kept one (hex, see `keptSecretHash`), in constant time. */
export function sameSecretHash(presented: Buffer, kept: string | null | undefined): boolean {
  if (!kept || kept.length !== presented.length * 2) return false;
  const stored = Buffer.from(kept, 'hex');
  return stored.length === presented.length && timingSafeEqual(presented, stored);
}

import { createHash } from 'node:crypto';

/** What a message is addressed to: everyone, one uid, one group, or one client_id. Each has its own history. */
export type TargetRef =
  | { kind: 'all' }
  | { kind: 'uid'; name: string }
  | { kind: 'group'; name: string }
  | { kind: 'client'; name: string };

/** How the history key of a client_id starts (`c:<client_id>`). */
export const CLIENT_KEY_PREFIX = 'c:';

/** Names up to this many characters appear as they are in a key; longer ones are hashed, so every key is short. */
const READABLE_NAME = 32;

/**
 * The key of a target's history, as it travels to resumable clients (in every message frame, and back in the resume
 * handshake): `a` (everyone), `u:<uid>`, `g:<group>`, `c:<client_id>`; a uid or group longer than 32 characters is
 * written `u#<hash>` / `g#<hash>` (22 characters of its SHA-256), so a handshake that names 100 groups stays small.
 */
export function targetKey(target: TargetRef): string {
  switch (target.kind) {
    case 'all':
      return 'a';
    case 'client':
      return `${CLIENT_KEY_PREFIX}${target.name}`;
    case 'uid':
      return nameKey('u', target.name);
    case 'group':
      return nameKey('g', target.name);
  }
}

function nameKey(prefix: 'u' | 'g', name: string): string {
  if (name.length <= READABLE_NAME) return `${prefix}:${name}`;
  return `${prefix}#${createHash('sha256').update(name, 'utf8').digest('base64url').slice(0, 22)}`;
}

/**
 * The targets a connection receives pushes through: everyone, its client_id (`clientId`, its current one by default),
 * its uid, its groups.
 */
export function connectionTargets(
  conn: { id: string; uid: string | null; groups: Iterable<string> },
  clientId: string = conn.id,
): TargetRef[] {
  const targets: TargetRef[] = [{ kind: 'all' }, { kind: 'client', name: clientId }];
  if (conn.uid) targets.push({ kind: 'uid', name: conn.uid });
  for (const group of conn.groups) targets.push({ kind: 'group', name: group });
  return targets;
}

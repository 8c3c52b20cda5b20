import { PushEngineUnavailableError } from '../errors/push.errors';
import type { LocalConnection } from './local-connection';

/**
 * Writes to one connection's shared state (its index entries, bindings, session) that a cluster engine must apply
 * in the order they were called: each waits for the one before it. Without that, two `updateSession` calls read
 * the same base and the later one drops the other's keys, and a resync can write back a state older than a bind
 * that was in flight.
 */
export interface WriteQueue {
  tail: Promise<void>;
  pending: number;
}

/** Writes that may wait behind one connection's current write; more are refused with 503. */
export const MAX_PENDING_WRITES = 1000;

const NOOP = (): void => undefined;

/** Runs `write` once every write queued before it on `conn` has settled; resolves or rejects with its outcome. */
export function serialWrite<T>(conn: LocalConnection, write: () => Promise<T>): Promise<T> {
  const queue = conn.writes;
  if (queue && queue.pending >= MAX_PENDING_WRITES) {
    return Promise.reject(
      new PushEngineUnavailableError(`too many writes are waiting for client ${conn.id} (${MAX_PENDING_WRITES})`),
    );
  }
  const run = queue ? queue.tail.then(write) : write();
  const state: WriteQueue = queue ?? { tail: Promise.resolve(), pending: 0 };
  state.pending++;
  const tail = run.then(NOOP, NOOP).then(() => {
    state.pending--;
    if (state.pending === 0 && conn.writes === state) conn.writes = null;
  });
  state.tail = tail;
  conn.writes = state;
  return run;
}

/**
 * Runs `write` while holding the write turn of every connection in `conns` (for a batch that covers many at once,
 * like a resync's write-back): it starts once each one's earlier writes have settled, and later writes to any of
 * them wait for it. Only one such batch may run at a time per engine (single writes never wait for two turns, so
 * no two waiters can block each other).
 */
export async function serialWriteAll<T>(conns: readonly LocalConnection[], write: () => Promise<T>): Promise<T> {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const turns = conns.map(
    (conn) =>
      new Promise<void>((acquired) => {
        serialWrite(conn, () => {
          acquired();
          return held;
        }).catch(acquired); // a queue at its bound: write without the turn rather than never
      }),
  );
  try {
    await Promise.all(turns);
    return await write();
  } finally {
    release();
  }
}

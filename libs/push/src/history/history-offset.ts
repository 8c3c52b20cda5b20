import { randomBytes } from 'node:crypto';

/**
 * A position in one target's history: the history's epoch (a random id, new each time the history is created, so
 * an offset from a history that was lost and started again never passes for one of the new history) and the
 * sequence number of a message in it (1, 2, 3, … with no gaps: message n + 1 is the successor of message n).
 */
export interface HistoryOffset {
  epoch: string;
  n: number;
}

const OFFSET_RE = /^([0-9a-f]{1,32})\.(\d{1,15})$/;

/** A fresh epoch: 48 random bits, 12 hex characters. */
export function createEpoch(): string {
  return randomBytes(6).toString('hex');
}

/** `<epoch>.<n>`, as offsets travel in frames and in the resume handshake. */
export function formatOffset(offset: HistoryOffset): string {
  return `${offset.epoch}.${offset.n}`;
}

/** The offset written as `<epoch>.<n>`, or null for anything else (an offset from a client is never trusted). */
export function parseOffset(value: unknown): HistoryOffset | null {
  if (typeof value !== 'string') return null;
  const match = OFFSET_RE.exec(value);
  if (!match) return null;
  const n = Number(match[2]);
  return Number.isSafeInteger(n) ? { epoch: match[1], n } : null;
}

/**
 * Where a replay of a history of `epoch` starts for one connection: after the highest of `cursors` (what the client
 * says it received last, and where the server says the connection joined the target) that belongs to this epoch;
 * after 0 (the whole history) when none does. A cursor of another epoch means the history it points into is gone, and
 * everything of the current epoch came after it: the history of that epoch started after the old one ended.
 */
export function replayAfter(epoch: string, cursors: readonly (HistoryOffset | null | undefined)[]): number {
  let after = 0;
  for (const cursor of cursors) if (cursor && cursor.epoch === epoch && cursor.n > after) after = cursor.n;
  return after;
}

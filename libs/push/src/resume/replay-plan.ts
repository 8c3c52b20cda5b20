import type { HistoryOffset } from '../history/history-offset';
import type { HistoryEntry, HistoryReadResult } from '../history/history.interface';
import type { EncodedMessage } from '../message/encoded-message';
import { envelopeOf } from './push-protocol';

/** What a resuming connection is sent, and how far each history was read. */
export interface ReplayPlan {
  /** The missed messages, in their envelopes, oldest first (each target's own order kept). */
  frames: EncodedMessage[];
  /** Whether every history answered complete (nothing the connection missed was trimmed or lost). */
  complete: boolean;
  /**
   * Per history key, the last offset the replay covered (what the client had, or the last entry replayed): a live frame
   * of that history at or before it is a duplicate.
   */
  upTo: Map<string, HistoryOffset>;
}

interface Cursor {
  key: string;
  epoch: string;
  entries: HistoryEntry[];
  index: number;
}

/**
 * Merges what a resuming connection missed in each of its targets' histories into one sequence: each target's
 * entries keep their order, and across targets the one sent first goes first (by `order`). An entry is skipped when the send
 * excluded the connection (`excludedId`, the client_id it had then), and when it is a send to several groups of which
 * this is not the first one the connection is in (it gets it through that one: `memberOf` holds its history keys).
 */
export function planReplay(
  results: readonly HistoryReadResult[],
  memberOf: ReadonlySet<string>,
  excludedId: string,
): ReplayPlan {
  const upTo = new Map<string, HistoryOffset>();
  const cursors: Cursor[] = [];
  let complete = true;
  for (const result of results) {
    if (!result.complete) complete = false;
    if (result.epoch === null) continue;
    upTo.set(result.key, { epoch: result.epoch, n: Math.max(result.after, result.entries.at(-1)?.n ?? 0) });
    if (result.entries.length) cursors.push({ key: result.key, epoch: result.epoch, entries: result.entries, index: 0 });
  }
  const frames: EncodedMessage[] = [];
  for (;;) {
    let next: Cursor | null = null;
    for (const cursor of cursors) {
      if (cursor.index >= cursor.entries.length) continue;
      if (!next || cursor.entries[cursor.index].order < next.entries[next.index].order) next = cursor;
    }
    if (!next) break;
    const entry = next.entries[next.index++];
    if (entry.exclude?.has(excludedId)) continue;
    if (entry.targets && firstMemberOf(entry.targets, memberOf) !== next.key) continue;
    frames.push(envelopeOf(entry.message, { key: next.key, offset: { epoch: next.epoch, n: entry.n } }));
  }
  return { frames, complete, upTo };
}

function firstMemberOf(keys: readonly string[], memberOf: ReadonlySet<string>): string | undefined {
  for (const key of keys) if (memberOf.has(key)) return key;
  return undefined;
}

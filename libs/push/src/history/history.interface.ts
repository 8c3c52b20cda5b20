import type { EncodedMessage } from '../message/encoded-message';
import type { HistoryOffset } from './history-offset';
import type { TargetRef } from './target-key';

/** Bounds of every target's history (the module's `resume.history` options). */
export interface HistoryLimits {
  /** Entries kept per target. */
  maxCount: number;
  /** Payload bytes kept per target. */
  maxBytes: number;
  /** ms an entry is kept. */
  maxAge: number;
  /** Bytes all the histories of this process may hold together (the memory engine's; Redis has its own memory). */
  maxTotalBytes: number;
}

/** One message in a target's history. */
export interface HistoryEntry {
  /** Its sequence number in the history (1, 2, 3, …). */
  n: number;
  message: EncodedMessage;
  /** client_ids the send excluded. */
  exclude: ReadonlySet<string> | null;
  /**
   * For a send to several groups: the history keys of all of them, in the order given. A connection in several of
   * them receives it once, through the first one it is in (live and on replay alike).
   */
  targets: readonly string[] | null;
  /** When it was added (ms since the epoch, the history's clock): what `maxAge` is measured against. */
  at: number;
  /**
   * Its place among the entries of every history of the same store, for merging several targets' histories in send
   * order (the memory engine numbers every append of the process; the Redis engine uses its stream ids' times).
   */
  order: number;
}

/** A replay asked of one target's history for one connection. */
export interface HistoryRead {
  key: string;
  target: TargetRef;
  /**
   * Where the connection's knowledge of the target stands: the last offset the client received, and where the server
   * saw it join the target; either may be missing. The replay starts after the highest one of the history's epoch.
   */
  cursors: readonly (HistoryOffset | null | undefined)[];
}

/** What a history answered. */
export interface HistoryReadResult {
  key: string;
  /** The history's epoch, or null when the target has none. */
  epoch: string | null;
  /** Where the replay starts: the sequence number it follows (0 when it replays the whole history). */
  after: number;
  /** The entries after the replay's start, oldest first (bounded by `maxCount`). */
  entries: HistoryEntry[];
  /**
   * True when `entries` is everything sent to the target after the replay's start; false when some of it was
   * trimmed (count, bytes, age), evicted, or lost with the backend's data.
   */
  complete: boolean;
}

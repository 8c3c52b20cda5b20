import type { EncodedMessage } from '../message/encoded-message';
import { createEpoch, replayAfter, type HistoryOffset } from './history-offset';
import type { HistoryEntry, HistoryLimits, HistoryRead, HistoryReadResult } from './history.interface';

/** Bytes an entry costs besides its payload (the entry object and its slot), for the byte bounds. */
const ENTRY_OVERHEAD = 96;
/** Bytes a target's history costs while it exists, even empty (it keeps its epoch and sequence). */
const RING_OVERHEAD = 160;

/** One target's history: a queue of entries, oldest first, and the sequence number of the last one added. */
class Ring {
  readonly epoch = createEpoch();
  /** Sequence number of the last entry added (0: none yet). */
  n = 0;
  private entries: HistoryEntry[] = [];
  private start = 0;
  bytes = 0;
  /** When the last entry was added (ms). */
  last = 0;

  get count(): number {
    return this.entries.length - this.start;
  }

  /** The sequence number of the oldest entry kept (n + 1 when none is). */
  get first(): number {
    return this.count > 0 ? this.entries[this.start].n : this.n + 1;
  }

  get oldest(): HistoryEntry | undefined {
    return this.entries[this.start];
  }

  push(entry: HistoryEntry, size: number): void {
    this.entries.push(entry);
    this.bytes += size;
  }

  /** Drops the oldest entry; returns its size. */
  shift(): number {
    const entry = this.entries[this.start];
    this.entries[this.start++] = undefined as never;
    // Compact once the dropped half is large: amortised O(1) per entry.
    if (this.start > 64 && this.start * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.start);
      this.start = 0;
    }
    const size = sizeOf(entry.message);
    this.bytes -= size;
    return size;
  }

  /** The entries after sequence number `after`, oldest first. */
  after(after: number): HistoryEntry[] {
    const from = Math.max(0, after + 1 - this.first);
    return this.entries.slice(this.start + from);
  }
}

function sizeOf(message: EncodedMessage): number {
  return message.byteLength + ENTRY_OVERHEAD;
}

/**
 * Every target's history in this process (the memory engine's): a bounded queue per target, and a bound on them all.
 * Per target, the oldest entries go first when it passes `maxCount` or `maxBytes`, and entries older than `maxAge`
 * go when the target is next written or read. Past `maxTotalBytes`, the oldest entries of the least recently written
 * targets go. A target not written for `maxAge` is dropped with its epoch (a later message starts a new epoch): that
 * is safe because `maxAge` covers the resume window plus the time a dead connection takes to be noticed, so no
 * resumable client can still be missing one of its messages. A target dropped for room, though, may have been: for
 * `maxAge` after that, a replay that cannot prove continuity is reported incomplete.
 */
export class MemoryHistory {
  /** Least recently written first (an append moves its target to the end). */
  private readonly rings = new Map<string, Ring>();
  private total = 0;
  /** When a target was last dropped for room rather than for age (ms; 0: never). */
  private forcedAt = 0;
  /** Appends so far, across all targets: every entry's `order`. */
  private appends = 0;

  constructor(
    private readonly limits: HistoryLimits,
    private readonly now: () => number = Date.now,
  ) {}

  /** Bytes held by all histories (payloads and overheads). */
  get bytes(): number {
    return this.total;
  }

  /** Targets with a history. */
  get size(): number {
    return this.rings.size;
  }

  /** Adds a message to a target's history (created when absent); returns its offset. */
  append(
    key: string,
    message: EncodedMessage,
    exclude: ReadonlySet<string> | null = null,
    targets: readonly string[] | null = null,
  ): HistoryOffset {
    const now = this.now();
    this.expire(now);
    let ring = this.rings.get(key);
    if (ring) this.rings.delete(key);
    else {
      ring = new Ring();
      this.total += RING_OVERHEAD;
    }
    this.rings.set(key, ring);
    const entry: HistoryEntry = { n: ++ring.n, message, exclude, targets, at: now, order: ++this.appends };
    const size = sizeOf(message);
    ring.push(entry, size);
    ring.last = now;
    this.total += size;
    this.trim(ring, now);
    this.makeRoom(ring);
    return { epoch: ring.epoch, n: entry.n };
  }

  /** Where a target's history stands now (null when it has none): a connection that joins now starts after it. */
  head(key: string): HistoryOffset | null {
    const ring = this.rings.get(key);
    return ring ? { epoch: ring.epoch, n: ring.n } : null;
  }

  /** The entries a connection missed, after the highest of its cursors of this history's epoch. */
  read(read: HistoryRead): HistoryReadResult {
    const now = this.now();
    const ring = this.rings.get(read.key);
    // When the connection's cursors are of another epoch (or it has none), an older history of this target may have
    // been dropped: fine when it expired, unknown when it was dropped for room (it may have held entries the client
    // never received), so such a replay is incomplete while a drop for room is recent.
    const forcedRecently = this.forcedAt > 0 && now - this.forcedAt < this.limits.maxAge;
    if (!ring) {
      return { key: read.key, epoch: null, after: 0, entries: [], complete: !forcedRecently };
    }
    this.trim(ring, now);
    const after = Math.min(replayAfter(ring.epoch, read.cursors), ring.n);
    const sameEpoch = read.cursors.some((cursor) => cursor?.epoch === ring.epoch);
    const complete = ring.first <= after + 1 && (sameEpoch || !forcedRecently);
    return { key: read.key, epoch: ring.epoch, after, entries: ring.after(after), complete };
  }

  /** Drops the targets not written for `maxAge` (run it now and then: the engine does, on a timer). */
  expire(now = this.now()): void {
    const oldest = now - this.limits.maxAge;
    for (const [key, ring] of this.rings) {
      if (ring.last >= oldest) break; // least recently written first: the rest are newer
      this.drop(key, ring);
    }
  }

  private trim(ring: Ring, now: number): void {
    const { maxCount, maxBytes, maxAge } = this.limits;
    while (ring.count > 0 && (ring.count > maxCount || ring.bytes > maxBytes || ring.oldest!.at < now - maxAge)) {
      this.total -= ring.shift();
    }
  }

  /** Past `maxTotalBytes`: the oldest entries of the least recently written targets go, then those targets. */
  private makeRoom(keep: Ring): void {
    if (this.total <= this.limits.maxTotalBytes) return;
    for (const [key, ring] of this.rings) {
      if (this.total <= this.limits.maxTotalBytes) return;
      if (ring === keep) continue;
      while (ring.count > 0 && this.total > this.limits.maxTotalBytes) this.total -= ring.shift();
      if (this.total > this.limits.maxTotalBytes) {
        this.drop(key, ring);
        this.forcedAt = this.now();
      }
    }
    // Only the target being written is left: it keeps its newest entry at least.
    while (keep.count > 1 && this.total > this.limits.maxTotalBytes) this.total -= keep.shift();
  }

  private drop(key: string, ring: Ring): void {
    this.rings.delete(key);
    this.total -= ring.bytes + RING_OVERHEAD;
  }
}

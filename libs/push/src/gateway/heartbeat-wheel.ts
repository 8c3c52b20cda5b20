/**
 * The heartbeat's schedule: connections are dealt round-robin into `slices` slots, and each tick visits one
 * slot, so every connection is visited exactly once per turn of the wheel (one heartbeat interval), however fast
 * others come and go. A single cursor over all connections cannot promise that: under churn it keeps meeting the
 * newcomers appended behind it and may never get back to the old ones (a Map iterator sees later additions).
 * The cost of a tick stays about `size / slices`, so 10k sockets still cost ten short pauses per interval.
 */
export class HeartbeatWheel<T> {
  private readonly slots: Set<T>[];
  private dealt = 0;
  private hand = 0;

  constructor(readonly slices: number) {
    if (!Number.isInteger(slices) || slices < 1) throw new Error('HeartbeatWheel: slices must be a positive integer');
    this.slots = Array.from({ length: slices }, () => new Set<T>());
  }

  /** Entries on the wheel. */
  get size(): number {
    let size = 0;
    for (const slot of this.slots) size += slot.size;
    return size;
  }

  /** Puts an entry on the wheel; it is visited within one turn. */
  add(entry: T): void {
    this.slots[this.dealt].add(entry);
    this.dealt = (this.dealt + 1) % this.slices;
  }

  /** Takes an entry off the wheel (no-op when absent). */
  delete(entry: T): void {
    for (const slot of this.slots) if (slot.delete(entry)) return;
  }

  /** Visits the next slot. `visit` may delete entries, from that slot too. */
  tick(visit: (entry: T) => void): void {
    const slot = this.slots[this.hand];
    this.hand = (this.hand + 1) % this.slices;
    for (const entry of slot) visit(entry);
  }

  /** Empties the wheel. */
  clear(): void {
    for (const slot of this.slots) slot.clear();
  }
}

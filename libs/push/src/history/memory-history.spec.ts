import { EncodedMessage } from '../message/encoded-message';
import { formatOffset, parseOffset, replayAfter, type HistoryOffset } from './history-offset';
import type { HistoryLimits, HistoryReadResult } from './history.interface';
import { MemoryHistory } from './memory-history';

/*
 * Byte accounting as the history does it: every entry costs its payload plus a fixed overhead, every target's
 * history a fixed overhead while it exists. The bounds below are written in these units so that each test says
 * exactly which entry has to go.
 */
const ENTRY = 96;
const RING = 160;
/** A 4-byte payload: one entry of it costs 100 bytes. */
const FOUR = 4;
const COST = FOUR + ENTRY;

const DEFAULT_LIMITS: HistoryLimits = { maxCount: 100, maxBytes: 1 << 20, maxAge: 60_000, maxTotalBytes: 1 << 30 };

describe('MemoryHistory', () => {
  let clock: number;
  const now = () => clock;

  beforeEach(() => {
    clock = 1_700_000_000_000;
  });

  function history(limits: Partial<HistoryLimits> = {}): MemoryHistory {
    return new MemoryHistory({ ...DEFAULT_LIMITS, ...limits }, now);
  }

  /** A 4-byte text payload, so every entry costs the same. */
  function msg(text: string): EncodedMessage {
    if (Buffer.byteLength(text) !== FOUR) throw new Error(`test payloads are ${FOUR} bytes: ${text}`);
    return EncodedMessage.encode(text);
  }

  function texts(result: HistoryReadResult): string[] {
    return result.entries.map((entry) => entry.message.data.toString());
  }

  function read(h: MemoryHistory, key: string, ...cursors: (HistoryOffset | null | undefined)[]): HistoryReadResult {
    return h.read({ key, target: { kind: 'group', name: key }, cursors });
  }

  describe('append and head', () => {
    it('numbers the entries of one target 1, 2, 3 in a single epoch', () => {
      const h = history();
      const offsets = ['m001', 'm002', 'm003'].map((text) => h.append('g:a', msg(text)));
      expect(offsets.map((offset) => offset.n)).toEqual([1, 2, 3]);
      expect(new Set(offsets.map((offset) => offset.epoch)).size).toBe(1);
      expect(offsets[0].epoch).toMatch(/^[0-9a-f]{12}$/);
      expect(h.head('g:a')).toEqual(offsets[2]);
    });

    it('gives every target its own sequence and its own epoch', () => {
      const h = history();
      const a1 = h.append('g:a', msg('a001'));
      const b1 = h.append('g:b', msg('b001'));
      const a2 = h.append('g:a', msg('a002'));
      expect([a1.n, b1.n, a2.n]).toEqual([1, 1, 2]);
      expect(a1.epoch).not.toBe(b1.epoch);
      expect(h.head('g:b')).toEqual(b1);
    });

    it('has no head for a target never written', () => {
      expect(history().head('g:none')).toBeNull();
    });

    it('keeps what the entry was sent with, and numbers every append of the store in order', () => {
      const h = history();
      const exclude = new Set(['someone']);
      h.append('g:a', msg('a001'));
      h.append('g:b', msg('b001'), exclude, ['g:b', 'g:a']);
      h.append('g:a', msg('a002'));
      const b = read(h, 'g:b').entries[0];
      expect(b).toMatchObject({ n: 1, exclude, targets: ['g:b', 'g:a'], at: clock, order: 2 });
      expect(read(h, 'g:a').entries.map((entry) => entry.order)).toEqual([1, 3]);
      expect(read(h, 'g:a').entries[0]).toMatchObject({ exclude: null, targets: null });
    });
  });

  describe('read', () => {
    it('returns only the entries after a cursor of the same epoch, complete', () => {
      const h = history();
      const [, second] = ['m001', 'm002', 'm003', 'm004'].map((text) => h.append('g:a', msg(text)));
      const result = read(h, 'g:a', second);
      expect(texts(result)).toEqual(['m003', 'm004']);
      expect(result).toMatchObject({ key: 'g:a', epoch: second.epoch, after: 2, complete: true });
    });

    it('starts after the highest cursor of the epoch and ignores the others', () => {
      const h = history();
      const offsets = ['m001', 'm002', 'm003'].map((text) => h.append('g:a', msg(text)));
      const result = read(h, 'g:a', offsets[0], null, undefined, { epoch: 'ffffffffffff', n: 3 }, offsets[1]);
      expect(result.after).toBe(2);
      expect(texts(result)).toEqual(['m003']);
      expect(result.complete).toBe(true);
    });

    it('is complete and empty for a cursor at the head', () => {
      const h = history();
      h.append('g:a', msg('m001'));
      const head = h.head('g:a')!;
      expect(read(h, 'g:a', head)).toMatchObject({ after: 1, entries: [], complete: true });
    });

    it('never starts after the head, whatever a client claims', () => {
      const h = history();
      const head = h.append('g:a', msg('m001'));
      expect(read(h, 'g:a', { epoch: head.epoch, n: 999 })).toMatchObject({ after: 1, entries: [], complete: true });
    });

    it('replays the whole history for a cursor of another epoch, or for none', () => {
      const h = history();
      h.append('g:a', msg('m001'));
      h.append('g:a', msg('m002'));
      for (const result of [read(h, 'g:a', { epoch: 'abcdef012345', n: 7 }), read(h, 'g:a')]) {
        expect(result.after).toBe(0);
        expect(texts(result)).toEqual(['m001', 'm002']);
        expect(result.complete).toBe(true);
      }
    });

    it('reports a target without history as complete and empty while no history was dropped for room', () => {
      expect(read(history(), 'g:none', { epoch: 'abcdef012345', n: 3 })).toEqual({
        key: 'g:none',
        epoch: null,
        after: 0,
        entries: [],
        complete: true,
      });
    });
  });

  describe('per-target bounds', () => {
    it('trims to maxCount: a read from before the trimmed entries is incomplete but gets the rest', () => {
      const h = history({ maxCount: 2 });
      const [first, second] = ['m001', 'm002', 'm003', 'm004'].map((text) => h.append('g:a', msg(text)));
      expect(h.bytes).toBe(RING + 2 * COST);

      const fromStart = read(h, 'g:a');
      expect(texts(fromStart)).toEqual(['m003', 'm004']);
      expect(fromStart.complete).toBe(false);
      const fromFirst = read(h, 'g:a', first);
      expect(texts(fromFirst)).toEqual(['m003', 'm004']);
      expect(fromFirst.complete).toBe(false);
      // Entry 3 is the first one kept, so a client that has 2 misses nothing.
      const fromSecond = read(h, 'g:a', second);
      expect(texts(fromSecond)).toEqual(['m003', 'm004']);
      expect(fromSecond.complete).toBe(true);
    });

    it('trims to maxBytes of entries (their payloads and overheads)', () => {
      const h = history({ maxBytes: 2 * COST + COST / 2 });
      const offsets = ['m001', 'm002', 'm003'].map((text) => h.append('g:a', msg(text)));
      expect(h.bytes).toBe(RING + 2 * COST);
      expect(texts(read(h, 'g:a', offsets[0]))).toEqual(['m002', 'm003']);
      expect(read(h, 'g:a', offsets[0]).complete).toBe(true);
      expect(read(h, 'g:a').complete).toBe(false);

      // One large entry pushes out several small ones.
      h.append('g:a', EncodedMessage.encode('x'.repeat(COST)));
      expect(read(h, 'g:a').entries.map((entry) => entry.n)).toEqual([4]);
      expect(h.bytes).toBe(RING + COST + ENTRY);
    });

    it('does not keep an entry larger than maxBytes, and calls a replay that needed it incomplete', () => {
      const h = history({ maxBytes: 2 * COST });
      const first = h.append('g:a', msg('m001'));
      const big = h.append('g:a', EncodedMessage.encode('x'.repeat(2 * COST)));
      expect(big).toEqual({ epoch: first.epoch, n: 2 });
      expect(h.bytes).toBe(RING);
      expect(read(h, 'g:a', first)).toMatchObject({ after: 1, entries: [], complete: false });
      expect(read(h, 'g:a', big)).toMatchObject({ after: 2, entries: [], complete: true });
    });

    it('keeps serving the right entries after many trims (the queue compacts itself)', () => {
      const h = history({ maxCount: 10 });
      const offsets: HistoryOffset[] = [];
      for (let i = 1; i <= 200; i++) offsets.push(h.append('g:a', msg(String(i).padStart(4, '0'))));
      expect(texts(read(h, 'g:a', offsets[194]))).toEqual(['0196', '0197', '0198', '0199', '0200']);
      const all = read(h, 'g:a', offsets[100]);
      expect(all.entries.map((entry) => entry.n)).toEqual([191, 192, 193, 194, 195, 196, 197, 198, 199, 200]);
      expect(all.complete).toBe(false);
      expect(read(h, 'g:a', offsets[189]).complete).toBe(true);
      expect(h.bytes).toBe(RING + 10 * COST);
    });
  });

  describe('age', () => {
    it('drops entries older than maxAge when the target is next read', () => {
      const h = history({ maxAge: 60_000 });
      const first = h.append('g:a', msg('m001'));
      clock += 30_000;
      h.append('g:a', msg('m002'));
      clock += 30_000;
      // Exactly maxAge old is still kept.
      expect(texts(read(h, 'g:a', first))).toEqual(['m002']);
      expect(texts(read(h, 'g:a'))).toEqual(['m001', 'm002']);
      clock += 1;
      const result = read(h, 'g:a');
      expect(texts(result)).toEqual(['m002']);
      expect(result.complete).toBe(false);
      expect(read(h, 'g:a', first).complete).toBe(true);
      expect(h.bytes).toBe(RING + COST);
    });

    it('drops entries older than maxAge when the target is next written', () => {
      const h = history({ maxAge: 60_000 });
      h.append('g:a', msg('m001'));
      clock += 40_000;
      h.append('g:a', msg('m002'));
      clock += 30_000;
      h.append('g:a', msg('m003'));
      expect(h.bytes).toBe(RING + 2 * COST);
      expect(read(h, 'g:a').entries.map((entry) => entry.n)).toEqual([2, 3]);
    });

    it('reports a read complete when every entry aged out but the client had them all', () => {
      const h = history({ maxAge: 60_000 });
      h.append('g:a', msg('m001'));
      const last = h.append('g:a', msg('m002'));
      clock += 60_001;
      expect(read(h, 'g:a', last)).toMatchObject({ epoch: last.epoch, after: 2, entries: [], complete: true });
      expect(read(h, 'g:a', { epoch: last.epoch, n: 1 })).toMatchObject({ entries: [], complete: false });
    });

    it('expire() drops a target not written for maxAge, and a later append starts a new epoch', () => {
      const h = history({ maxAge: 60_000 });
      const old = h.append('g:a', msg('m001'));
      clock += 60_000;
      h.expire();
      expect(h.size).toBe(1);
      clock += 1;
      h.expire();
      expect(h.size).toBe(0);
      expect(h.bytes).toBe(0);
      expect(h.head('g:a')).toBeNull();

      const fresh = h.append('g:a', msg('m002'));
      expect(fresh.n).toBe(1);
      expect(fresh.epoch).not.toBe(old.epoch);
      // An expired history cannot have held anything a resumable client still misses: the new one replays whole.
      const result = read(h, 'g:a', old);
      expect(result).toMatchObject({ epoch: fresh.epoch, after: 0, complete: true });
      expect(texts(result)).toEqual(['m002']);
    });

    it('expire() measures from the time it is given, and keeps the targets written within maxAge of it', () => {
      const h = history({ maxAge: 60_000 });
      h.append('g:old', msg('m001'));
      clock += 10_000;
      h.append('g:new', msg('m002'));
      h.expire(clock + 50_000);
      expect(h.size).toBe(2);
      h.expire(clock + 50_001);
      expect(h.head('g:old')).toBeNull();
      expect(h.head('g:new')).not.toBeNull();
      expect(h.bytes).toBe(RING + COST);
    });

    it('an append expires the other targets not written for maxAge', () => {
      const h = history({ maxAge: 60_000 });
      h.append('g:old', msg('m001'));
      clock += 60_001;
      h.append('g:new', msg('m002'));
      expect(h.size).toBe(1);
      expect(h.head('g:old')).toBeNull();
    });

    it('a read does not keep a target alive: only writes do', () => {
      const h = history({ maxAge: 60_000 });
      h.append('g:a', msg('m001'));
      h.append('g:b', msg('m002'));
      clock += 40_000;
      read(h, 'g:a');
      h.append('g:b', msg('m003'));
      clock += 20_001;
      h.expire();
      expect(h.head('g:a')).toBeNull();
      expect(h.head('g:b')).not.toBeNull();
    });
  });

  describe('maxTotalBytes', () => {
    it('takes entries from the least recently written targets first', () => {
      const h = history({ maxTotalBytes: 2 * RING + 3 * COST + COST / 2 });
      const a1 = h.append('g:a', msg('a001'));
      const b1 = h.append('g:b', msg('b001'));
      h.append('g:b', msg('b002'));
      expect(h.bytes).toBe(2 * RING + 3 * COST);
      // g:a was written first, but this write makes g:b the least recently written target.
      h.append('g:a', msg('a002'));
      expect(h.bytes).toBe(2 * RING + 3 * COST);
      expect(h.size).toBe(2);

      const b = read(h, 'g:b', { epoch: b1.epoch, n: 0 });
      expect(texts(b)).toEqual(['b002']);
      expect(b.complete).toBe(false);
      expect(read(h, 'g:b', b1).complete).toBe(true);
      const a = read(h, 'g:a', { epoch: a1.epoch, n: 0 });
      expect(texts(a)).toEqual(['a001', 'a002']);
      expect(a.complete).toBe(true);
    });

    it('drops a whole target for room, then calls replays that cannot prove continuity incomplete for maxAge', () => {
      const maxAge = 60_000;
      const h = history({ maxAge, maxTotalBytes: 2 * RING + 3 * COST + COST / 2 });
      const a1 = h.append('g:a', msg('a001'));
      const b1 = h.append('g:b', msg('b001'));
      h.append('g:b', msg('b002'));
      h.append('g:a', msg('a002')); // g:b loses b001
      const c1 = h.append('g:c', msg('c001')); // g:b loses b002 and then its history
      expect(h.size).toBe(2);
      expect(h.bytes).toBe(2 * RING + 3 * COST);
      expect(h.head('g:b')).toBeNull();
      expect(read(h, 'g:a', a1).entries.map((entry) => entry.n)).toEqual([2]);

      const forcedAt = clock;
      const check = (complete: boolean) => {
        // No history, or cursors of no current epoch: what the dropped history held may be missing.
        expect(read(h, 'g:b').complete).toBe(complete);
        expect(read(h, 'g:b', b1).complete).toBe(complete);
        expect(read(h, 'g:c').complete).toBe(complete);
        expect(read(h, 'g:c', { epoch: 'abcdef012345', n: 1 }).complete).toBe(complete);
        // A cursor of the current epoch proves continuity whatever was dropped elsewhere.
        expect(read(h, 'g:c', { epoch: c1.epoch, n: 0 }).complete).toBe(true);
        expect(read(h, 'g:a', a1).complete).toBe(true);
      };
      check(false);
      expect(texts(read(h, 'g:c'))).toEqual(['c001']);

      clock = forcedAt + maxAge - 1;
      check(false);
      clock = forcedAt + maxAge;
      check(true);
    });

    it('leaves the target being written its newest entry, even past the bound', () => {
      const h = history({ maxTotalBytes: RING + COST + COST / 2 });
      h.append('g:a', msg('m001'));
      h.append('g:a', msg('m002'));
      expect(h.bytes).toBe(RING + COST);
      expect(texts(read(h, 'g:a'))).toEqual(['m002']);

      const big = EncodedMessage.encode('x'.repeat(1000));
      h.append('g:a', big);
      expect(h.bytes).toBe(RING + 1000 + ENTRY);
      const kept = read(h, 'g:a').entries;
      expect(kept).toHaveLength(1);
      expect(kept[0].message).toBe(big);
    });
  });

  describe('bytes and size', () => {
    it('follow appends, trims, expiry and drops', () => {
      const h = history({ maxCount: 3, maxAge: 60_000 });
      expect([h.size, h.bytes]).toEqual([0, 0]);
      h.append('g:a', msg('a001'));
      expect([h.size, h.bytes]).toEqual([1, RING + COST]);
      h.append('g:b', EncodedMessage.encode('0123456789'));
      expect([h.size, h.bytes]).toEqual([2, 2 * RING + COST + 10 + ENTRY]);
      for (const text of ['a002', 'a003', 'a004', 'a005']) h.append('g:a', msg(text));
      expect([h.size, h.bytes]).toEqual([2, 2 * RING + 3 * COST + 10 + ENTRY]);
      clock += 60_001;
      h.expire();
      expect([h.size, h.bytes]).toEqual([0, 0]);
    });
  });
});

describe('history offsets', () => {
  it('formats as <epoch>.<n> and parses back', () => {
    for (const offset of [
      { epoch: 'abcdef012345', n: 1 },
      { epoch: '0', n: 0 },
      { epoch: 'f'.repeat(32), n: 999_999_999_999_999 },
    ]) {
      expect(formatOffset(offset)).toBe(`${offset.epoch}.${offset.n}`);
      expect(parseOffset(formatOffset(offset))).toEqual(offset);
    }
  });

  it.each([
    ['a number', 12],
    ['null', null],
    ['no dot', 'abcdef'],
    ['no n', 'abcdef.'],
    ['no epoch', '.12'],
    ['a non-hex epoch', 'xyz.1'],
    ['an upper-case epoch', 'ABCDEF.1'],
    ['an epoch over 32 characters', `${'a'.repeat(33)}.1`],
    ['an n of 16 digits', 'abc.1234567890123456'],
    ['a negative n', 'abc.-1'],
    ['a fractional n', 'abc.1.5'],
    ['a hex n', 'abc.0x10'],
    ['surrounding spaces', ' abc.1'],
    ['a trailing newline', 'abc.1\n'],
  ])('refuses %s', (_label, value) => {
    expect(parseOffset(value)).toBeNull();
  });

  it('replays after the highest cursor of the epoch, and from the start when none is of it', () => {
    const cursors = [{ epoch: 'e1', n: 3 }, null, { epoch: 'e2', n: 9 }, undefined, { epoch: 'e1', n: 5 }];
    expect(replayAfter('e1', cursors)).toBe(5);
    expect(replayAfter('e1', [{ epoch: 'e2', n: 9 }])).toBe(0);
    expect(replayAfter('e1', [])).toBe(0);
  });
});

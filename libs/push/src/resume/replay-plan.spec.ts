import type { HistoryEntry, HistoryReadResult } from '../history/history.interface';
import type { PushMessage } from '../interfaces/push-message.interface';
import { EncodedMessage } from '../message/encoded-message';
import { planReplay } from './replay-plan';

/** A history entry as a history returns it; `order` places it among every history's entries. */
function entry(
  n: number,
  order: number,
  message: PushMessage,
  extra: { exclude?: string[]; targets?: string[] } = {},
): HistoryEntry {
  return {
    n,
    order,
    message: EncodedMessage.encode(message),
    exclude: extra.exclude ? new Set(extra.exclude) : null,
    targets: extra.targets ?? null,
    at: 0,
  };
}

function result(
  key: string,
  epoch: string | null,
  entries: HistoryEntry[],
  after = 0,
  complete = true,
): HistoryReadResult {
  return { key, epoch, after, entries, complete };
}

/** The payload of each frame (after the header's newline). */
function payloads(frames: EncodedMessage[]): string[] {
  return frames.map((frame) => frame.data.subarray(frame.data.indexOf(0x0a) + 1).toString());
}

describe('planReplay', () => {
  const me = 'client-now';

  it('merges several histories by send order and keeps each history in its own order', () => {
    const plan = planReplay(
      [
        result('g:a', 'e1', [entry(1, 1, 'a1'), entry(2, 5, 'a2'), entry(3, 6, 'a3')]),
        result('u:x', 'e2', [entry(6, 2, 'x6'), entry(7, 3, 'x7')], 5),
        result('a', 'e3', [entry(10, 4, 'all10')], 9),
      ],
      new Set(['g:a', 'u:x', 'a']),
      me,
    );
    expect(payloads(plan.frames)).toEqual(['a1', 'x6', 'x7', 'all10', 'a2', 'a3']);
    expect(plan.complete).toBe(true);
  });

  it('wraps each entry in an envelope naming its history and offset', () => {
    const bytes = Buffer.from([0x00, 0x0a, 0xff]);
    const plan = planReplay(
      [result('g:room', '3f9a2c1b0d4e', [entry(17, 1, 'hello'), entry(18, 2, { a: [1] }), entry(19, 3, bytes)], 16)],
      new Set(['g:room']),
      me,
    );
    const [text, json, binary] = plan.frames;
    expect(text.binary).toBe(false);
    expect(text.data.toString()).toBe('{"type":"msg","key":"g:room","off":"3f9a2c1b0d4e.17"}\nhello');
    expect(text.entry).toEqual({ key: 'g:room', offset: { epoch: '3f9a2c1b0d4e', n: 17 } });
    expect(json.binary).toBe(false);
    expect(json.data.toString()).toBe('{"type":"msg","key":"g:room","off":"3f9a2c1b0d4e.18","json":1}\n{"a":[1]}');
    expect(binary.binary).toBe(true);
    expect(binary.data).toEqual(
      Buffer.concat([Buffer.from('{"type":"msg","key":"g:room","off":"3f9a2c1b0d4e.19"}\n'), bytes]),
    );
  });

  it('skips what a send excluded the connection from, by the client_id it had then', () => {
    const results = [
      result('g:a', 'e1', [entry(1, 1, 'to all'), entry(2, 2, 'not to me', { exclude: ['other', me] })]),
    ];
    expect(payloads(planReplay(results, new Set(['g:a']), me).frames)).toEqual(['to all']);
    expect(payloads(planReplay(results, new Set(['g:a']), 'someone-else').frames)).toEqual(['to all', 'not to me']);
  });

  it('replays a send to several groups once, through the first listed group the connection is in', () => {
    const targets = ['g:x', 'g:y', 'g:z'];
    const inX = result('g:x', 'ex', [entry(1, 1, 'multi', { targets })]);
    const inY = result('g:y', 'ey', [entry(4, 2, 'multi', { targets }), entry(5, 3, 'y only')], 3);
    const inZ = result('g:z', 'ez', [entry(1, 4, 'multi', { targets })]);

    const all = planReplay([inZ, inY, inX], new Set(['g:x', 'g:y', 'g:z']), me);
    expect(payloads(all.frames)).toEqual(['multi', 'y only']);
    expect(all.frames[0].entry?.key).toBe('g:x');

    // Not in g:x: it received the send through g:y, the next one it is in.
    const notX = planReplay([inZ, inY], new Set(['g:y', 'g:z']), me);
    expect(payloads(notX.frames)).toEqual(['multi', 'y only']);
    expect(notX.frames[0].entry).toEqual({ key: 'g:y', offset: { epoch: 'ey', n: 4 } });
  });

  it('is incomplete when any history is, including one that could not be read', () => {
    const full = result('g:a', 'e1', [entry(1, 1, 'a1')]);
    expect(planReplay([full, result('g:b', 'e2', [], 0, false)], new Set(['g:a', 'g:b']), me).complete).toBe(false);
    const unread = planReplay([full, result('g:c', null, [], 0, false)], new Set(['g:a', 'g:c']), me);
    expect(unread.complete).toBe(false);
    expect(payloads(unread.frames)).toEqual(['a1']);
  });

  it('records how far each history with an epoch was covered, skipped entries included', () => {
    const plan = planReplay(
      [
        result('g:a', 'e1', [entry(3, 1, 'a3'), entry(4, 2, 'a4', { exclude: [me] })], 2),
        result('g:b', 'e2', [], 7),
        result('g:c', 'e3', []),
        result('g:d', null, []),
      ],
      new Set(['g:a', 'g:b', 'g:c', 'g:d']),
      me,
    );
    expect(payloads(plan.frames)).toEqual(['a3']);
    expect(plan.upTo).toEqual(
      new Map([
        ['g:a', { epoch: 'e1', n: 4 }],
        ['g:b', { epoch: 'e2', n: 7 }],
        ['g:c', { epoch: 'e3', n: 0 }],
      ]),
    );
  });

  it('plans nothing, complete, for no histories', () => {
    expect(planReplay([], new Set(), me)).toEqual({ frames: [], complete: true, upTo: new Map() });
  });
});

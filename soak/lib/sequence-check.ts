/**
 * The delivery check of one watcher on one channel: pushes are numbered 1…sent per channel, and each must arrive
 * exactly once and in order. Pure, so the watchers process and the report agree on one definition.
 */
export interface SequenceCheck {
  /** Highest number the pusher issued on this channel. */
  sent: number;
  /** Frames received on this channel (duplicates included). */
  received: number;
  /** Numbers in 1…sent never received. */
  lost: number;
  /** Those numbers (all of them: the report tells lost-before-cut from lost-after-cut with them). */
  lostSeqs: number[];
  /** Frames that repeated a number already received. */
  duplicated: number;
  /** First arrivals of a number lower than one already received. */
  outOfOrder: number;
  /** The first few out-of-order arrivals, as "7 after 9". */
  outOfOrderSamples: string[];
  /** Numbers outside 1…sent (a frame nobody sent). */
  unexpected: number;
}

const SAMPLES = 5;

export function checkSequence(arrivals: readonly number[], sent: number): SequenceCheck {
  const seen = new Uint8Array(sent + 1);
  let duplicated = 0;
  let outOfOrder = 0;
  let unexpected = 0;
  let highest = 0;
  const outOfOrderSamples: string[] = [];
  for (const seq of arrivals) {
    if (!Number.isInteger(seq) || seq < 1 || seq > sent) {
      unexpected++;
      continue;
    }
    if (seen[seq]) {
      duplicated++;
      continue;
    }
    seen[seq] = 1;
    if (seq < highest) {
      outOfOrder++;
      if (outOfOrderSamples.length < SAMPLES) outOfOrderSamples.push(`${seq} after ${highest}`);
    } else {
      highest = seq;
    }
  }
  const lostSeqs: number[] = [];
  for (let seq = 1; seq <= sent; seq++) if (!seen[seq]) lostSeqs.push(seq);
  return {
    sent,
    received: arrivals.length,
    lost: lostSeqs.length,
    lostSeqs,
    duplicated,
    outOfOrder,
    outOfOrderSamples,
    unexpected,
  };
}

/** `[1,2,3,7,9,10]` → `"1-3, 7, 9-10"`, cut after `max` ranges. */
export function ranges(seqs: readonly number[], max = 6): string {
  const parts: string[] = [];
  for (let i = 0; i < seqs.length; ) {
    let j = i;
    while (j + 1 < seqs.length && seqs[j + 1] === seqs[j] + 1) j++;
    parts.push(i === j ? `${seqs[i]}` : `${seqs[i]}-${seqs[j]}`);
    i = j + 1;
    if (parts.length === max && i < seqs.length) {
      parts.push('…');
      break;
    }
  }
  return parts.join(', ');
}

import type { HistoryOffset } from '../../history/history-offset';
import type { HistoryRead, HistoryReadResult } from '../../history/history.interface';
import type { TargetRef } from '../../history/target-key';

/** What a recorded publish counted: the target's members, and how many of them are dropped and resumable. */
export interface RecordedCount {
  count: number;
  held: number;
}

/** The message as a recorded publish carries it (see `openClusterHeader`). */
export interface RecordedMessage {
  /** The node-to-node header, JSON without its closing brace: the backend appends the history offset. */
  head: string;
  /** The pushed message's bytes. */
  body: Buffer;
  /** `b` binary, `j` JSON the module serialised, '' text. */
  flags: '' | 'b' | 'j';
}

/**
 * The history half of a cluster backend (resume and recovery), optional: a backend without one makes an engine that
 * keeps no history and refuses every resume. Each target's history lives beside its members, and a push to it is
 * added to its history and published in one step, so that the order a node receives pushes in is the order of the
 * history offsets they carry.
 */
export interface ClusterHistory {
  /**
   * Adds a push to a uid's, group's or everyone's history and publishes it with its offset, when the target has
   * members; `groups` lists every group of a send to several. Resolves to the members (minus `excluded`) and the
   * dropped ones among them.
   */
  publishToTarget(
    target: Exclude<TargetRef, { kind: 'client' }>,
    message: RecordedMessage,
    excluded: readonly string[],
    groups: readonly string[] | null,
  ): Promise<RecordedCount>;
  /**
   * Adds a push to the history of each listed client_id that `node` holds on the resumable protocol, and publishes it
   * once to `node` with every offset, when it holds one of them. Resolves to how many it holds, and how many of those
   * are dropped.
   */
  publishToClients(node: string, message: RecordedMessage, clientIds: readonly string[]): Promise<RecordedCount>;
  /** Where each target's history stands now (null: none yet): a connection joining it starts after that. */
  heads(targets: readonly TargetRef[]): Promise<(HistoryOffset | null)[]>;
  /** What a resuming connection missed, target by target. */
  read(reads: readonly HistoryRead[]): Promise<HistoryReadResult[]>;
}

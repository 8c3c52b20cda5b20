import { createEpoch, type HistoryOffset } from '../../history/history-offset';
import type { HistoryEntry, HistoryLimits, HistoryRead, HistoryReadResult } from '../../history/history.interface';
import { targetKey, type TargetRef } from '../../history/target-key';
import { EncodedMessage } from '../../message/encoded-message';
import type { ClusterHistory, RecordedCount, RecordedMessage } from '../cluster/cluster-history';
import type { RedisCommands } from './redis.directory';
import type { RedisKeys } from './redis-keys';

type Reply = Buffer | number | null | Reply[];

/**
 * Every target's history on Redis (one Redis or a Redis Cluster): a stream and a meta hash per target, in the slot of
 * the target's members and channel (see redis.scripts.ts for the layout), so that one script adds a push to the
 * history and publishes it with its offset. Bounded by `maxCount` and `maxBytes` per target as it is written; a history
 * nobody writes to for `maxAge` expires with its epoch.
 */
export class RedisHistory implements ClusterHistory {
  constructor(
    private readonly redis: RedisCommands,
    private readonly keys: RedisKeys,
    /** `PUBLISH`, or `SPUBLISH` on a Redis Cluster. */
    private readonly publishCommand: 'PUBLISH' | 'SPUBLISH',
    private readonly limits: HistoryLimits,
  ) {}

  async publishToTarget(
    target: Exclude<TargetRef, { kind: 'client' }>,
    message: RecordedMessage,
    excluded: readonly string[],
    groups: readonly string[] | null,
  ): Promise<RecordedCount> {
    const k = this.keys;
    const channel = target.kind === 'all' ? k.allChannel : target.kind === 'uid' ? k.uidChannel(target.name) : k.groupChannel(target.name);
    const keys = [k.targetMembers(target), channel, k.targetDetached(target), ...k.history(target), k.targetResumable(target)];
    const reply = (await this.redis.pushPublishRecorded(
      ...keys,
      this.publishCommand,
      message.head,
      message.body,
      message.flags,
      ...this.bounds(),
      groups ? JSON.stringify(groups) : '',
      ...excluded,
    )) as [number, number];
    return { count: reply[0], held: reply[1] };
  }

  async publishToClients(node: string, message: RecordedMessage, clientIds: readonly string[]): Promise<RecordedCount> {
    const k = this.keys;
    const keys = [k.nodeClients(node), k.nodeChannel(node), k.nodeDetached(node), k.nodeResumable(node)];
    for (const id of clientIds) keys.push(...k.history({ kind: 'client', name: id }));
    const reply = (await this.redis.pushPublishToHeldRecorded(
      keys.length,
      ...keys,
      this.publishCommand,
      message.head,
      message.body,
      message.flags,
      ...this.bounds(),
      ...clientIds,
    )) as [number, number];
    return { count: reply[0], held: reply[1] };
  }

  async heads(targets: readonly TargetRef[]): Promise<(HistoryOffset | null)[]> {
    return Promise.all(
      targets.map(async (target) => {
        const [epoch, n] = await this.redis.hmget(this.keys.history(target)[1], 'e', 'n');
        return epoch && n ? { epoch, n: Number(n) } : null;
      }),
    );
  }

  read(reads: readonly HistoryRead[]): Promise<HistoryReadResult[]> {
    return Promise.all(reads.map((read) => this.readOne(read)));
  }

  private async readOne(read: HistoryRead): Promise<HistoryReadResult> {
    const cursors: (string | number)[] = [];
    for (const cursor of read.cursors) if (cursor) cursors.push(cursor.epoch, cursor.n);
    const keys = this.keys.history(read.target);
    const reply = (await this.redis.pushReadHistoryBuffer(...keys, this.limits.maxCount, ...cursors)) as Reply[];
    if (reply.length === 0) return { key: read.key, epoch: null, after: 0, entries: [], complete: true };
    const [epochReply, headReply, afterReply, rows] = reply as [Buffer, Buffer, number, Reply[]];
    const head = Number(headReply.toString());
    const after = Number(afterReply);
    const entries = rows.map((row) => toEntry(row as Reply[]));
    // Continuous when the first entry kept is the one right after the replay's start (or nothing came after it).
    const complete = entries.length > 0 ? entries[0].n === after + 1 : head === after;
    return { key: read.key, epoch: epochReply.toString(), after, entries, complete };
  }

  /** maxCount, maxBytes, maxAge, and an epoch for a history that starts with this push. */
  private bounds(): (string | number)[] {
    const { maxCount, maxBytes, maxAge } = this.limits;
    return [maxCount, maxBytes, maxAge, createEpoch()];
  }
}

/** One stream entry (`n-0`, then field, value, …) as a history entry. */
function toEntry(row: Reply[]): HistoryEntry {
  const id = (row[0] as Buffer).toString();
  const fields = row[1] as Buffer[];
  let data: Buffer = EMPTY;
  let flags = '';
  let at = 0;
  let exclude: ReadonlySet<string> | null = null;
  let targets: readonly string[] | null = null;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const value = fields[i + 1];
    switch (fields[i].toString()) {
      case 'd':
        data = value;
        break;
      case 'f':
        flags = value.toString();
        break;
      case 'a':
        at = Number(value.toString());
        break;
      case 'x':
        exclude = new Set(value.toString().split(','));
        break;
      case 't':
        targets = (JSON.parse(value.toString()) as string[]).map((name) => targetKey({ kind: 'group', name }));
        break;
    }
  }
  const message = EncodedMessage.fromWire(data, flags === 'b', flags === 'j');
  return { n: Number(id.slice(0, id.indexOf('-'))), message, exclude, targets, at, order: at };
}

const EMPTY: Buffer = Buffer.alloc(0);

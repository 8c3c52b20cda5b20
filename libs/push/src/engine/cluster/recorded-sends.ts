import type { PushEngineUnavailableError } from '../../errors/push.errors';
import { targetKey, type TargetRef } from '../../history/target-key';
import { nodeIdOf } from '../../identity/client-id';
import type { SendResult } from '../../interfaces/send-result.interface';
import type { EncodedMessage } from '../../message/encoded-message';
import type { LocalDelivery, LocalNode } from '../local-node';
import type { ClusterDirectory } from './cluster-directory';
import type { ClusterHistory, RecordedCount, RecordedMessage } from './cluster-history';
import { openClusterHeader } from './cluster-message';
import type { NodeMessaging, PushExtra } from './node-messaging';

/** How a recorded send reaches the backend and reports its failures (the engine counts them). */
export interface RecordedSendCalls {
  /** Runs a backend call; any failure becomes the typed 503. */
  run<T>(call: () => Promise<T>): Promise<T>;
  /** Counts a failure and returns the typed 503 carrying what went out meanwhile (`partly`: some targets published). */
  failure(error: unknown, delivered: number, partly: boolean): PushEngineUnavailableError;
}

/**
 * The send path of a cluster engine that keeps history (resume on). A push is written at once to this node's plain
 * connections; every resumable connection, here or elsewhere, gets it from the target's channel, where the backend
 * publishes it with its history offset in the step that records it, so that pushes to one target reach every node in
 * the order of their offsets (the order a replay keeps too).
 *
 * The count: here, the plain connections the push was written to; elsewhere (and the resumable ones here, which the
 * channel reaches), the attached members the index counts; and `held`, the dropped ones, which get it on resume.
 */
export class RecordedSends {
  constructor(
    private readonly nodeId: string,
    private readonly local: LocalNode,
    private readonly directory: ClusterDirectory,
    private readonly history: ClusterHistory,
    private readonly messaging: NodeMessaging,
    private readonly calls: RecordedSendCalls,
  ) {}

  /** Sends to uids (each its own history) or to everyone. */
  async toTargets(
    targets: Exclude<TargetRef, { kind: 'client' | 'group' }>[],
    message: EncodedMessage,
    exclude: ReadonlySet<string> | null,
  ): Promise<SendResult> {
    const plain = message.forAudience('plain');
    const excluded = exclude ? [...exclude] : [];
    const parts = [...new Map(targets.map((t) => [targetKey(t), t])).values()].map((target) => {
      const local =
        target.kind === 'all' ? this.local.deliverToAll(plain, exclude) : this.local.deliverToUids([target.name], plain);
      const recorded = this.recorded(message, { x: excluded });
      return { local, remote: this.history.publishToTarget(target, recorded, excluded, null) };
    });
    return this.count(parts);
  }

  /** Sends to groups: to one like a uid; to several, once per connection, through the first group it is in. */
  async toGroups(groups: string[], message: EncodedMessage, exclude: ReadonlySet<string> | null): Promise<SendResult> {
    const plain = message.forAudience('plain');
    const excluded = exclude ? [...exclude] : [];
    const local = this.local.deliverToGroups(groups, plain, exclude);
    if (groups.length === 1) {
      const target: TargetRef = { kind: 'group', name: groups[0] };
      const recorded = this.recorded(message, { x: excluded });
      return this.count([{ local, remote: this.history.publishToTarget(target, recorded, excluded, null) }]);
    }
    // A connection in two of the groups counts once: the members are read and de-duplicated (each group's own count
    // would count it twice); then each group that has members records the push and its channel carries it.
    const remote = this.calls.run(async () => {
      const { count, nonEmpty } = await this.countMembers(groups, exclude);
      if (nonEmpty.length === 0) return count;
      const recorded = this.recorded(message, { x: excluded, t: nonEmpty });
      await Promise.all(
        nonEmpty.map((name) => this.history.publishToTarget({ kind: 'group', name }, recorded, excluded, nonEmpty)),
      );
      return count;
    });
    return this.count([{ local, remote }]);
  }

  /** Sends to client_ids: each resumable one's own history gets it, on the slot of the node that holds it. */
  async toClients(clientIds: string[], message: EncodedMessage, exclude: ReadonlySet<string> | null): Promise<SendResult> {
    const byNode = new Map<string, string[]>();
    for (const id of new Set(clientIds)) {
      if (exclude?.has(id)) continue;
      const node = nodeIdOf(id);
      const ids = byNode.get(node);
      if (ids) ids.push(id);
      else byNode.set(node, [id]);
    }
    const mine = byNode.get(this.nodeId) ?? [];
    const local = this.local.deliverToClients(mine, message.forAudience('plain'), null);
    // This node's plain connections have it now; only its resumable ones need their histories (and the ordered
    // stream): with none, the send stays local, and goes on while the backend is away.
    if (mine.length && !mine.some((id) => this.local.get(id)?.resume)) byNode.delete(this.nodeId);
    const parts = [...byNode].map(([node, ids]) => ({
      local: node === this.nodeId ? local : NOTHING_HERE,
      remote: this.history.publishToClients(node, this.recorded(message, { c: ids }), ids),
    }));
    if (!byNode.has(this.nodeId)) parts.push({ local, remote: Promise.resolve(LOCAL_ONLY) });
    return this.count(parts);
  }

  /**
   * The members of several groups (each once) and the dropped ones among them, minus the excluded ones, and the
   * groups that have members, in their order.
   */
  private async countMembers(
    groups: string[],
    exclude: ReadonlySet<string> | null,
  ): Promise<{ count: RecordedCount; nonEmpty: string[] }> {
    const [members, dropped] = await Promise.all([
      this.directory.getClientIdsByGroups(groups),
      this.directory.getDroppedByGroups!(groups),
    ]);
    const all = new Set(members.flat());
    const held = new Set(dropped.flat());
    for (const id of exclude ?? []) {
      all.delete(id);
      held.delete(id);
    }
    const nonEmpty = groups.filter((_, i) => members[i].length > 0);
    return { count: { count: all.size, held: held.size }, nonEmpty };
  }

  /** Adds the parts up; a target whose backend failed does not hide the others: the 503 carries what went out. */
  private async count(parts: { local: LocalDelivery; remote: Promise<RecordedCount> }[]): Promise<SendResult> {
    const results = await Promise.allSettled(parts.map((part) => part.remote));
    let delivered = 0;
    let held = 0;
    let failure: unknown;
    for (let i = 0; i < parts.length; i++) {
      const here = await parts[i].local.count;
      delivered += here.delivered;
      const result = results[i];
      if (result.status === 'rejected') {
        failure ??= result.reason;
        continue;
      }
      const plainHere = parts[i].local.members - here.deferred;
      delivered += Math.max(0, result.value.count - result.value.held - plainHere);
      held += result.value.held;
    }
    if (failure === undefined) return { delivered, held };
    throw this.calls.failure(failure, delivered, parts.length > 1);
  }

  /** The push as a recorded publish carries it: this node's header (open, for the offset) and the payload. */
  private recorded(message: EncodedMessage, extra: PushExtra): RecordedMessage {
    const flags = message.binary ? 'b' : message.json ? 'j' : '';
    return { head: openClusterHeader(this.nodeId, this.messaging.pushBody(message, extra)), body: message.data, flags };
  }
}

/** The local part of a recorded send to another node's client_ids: nothing written here. */
const NOTHING_HERE: LocalDelivery = { count: { delivered: 0, held: 0, deferred: 0 }, members: 0 };
/** The remote part of a send to this node's plain client_ids only: nothing beyond what was written here. */
const LOCAL_ONLY: RecordedCount = { count: 0, held: 0 };

import { PushEngineUnavailableError } from '../errors/push.errors';
import type { HistoryRead, HistoryReadResult } from '../history/history.interface';
import { MemoryHistory } from '../history/memory-history';
import { targetKey, type TargetRef } from '../history/target-key';
import { createNodeId } from '../identity/client-id';
import type { ClientInfo } from '../interfaces/client-info.interface';
import type { PushSession } from '../interfaces/push-message.interface';
import type { SendResult } from '../interfaces/send-result.interface';
import { resuming, type LocalConnection } from '../local/local-connection';
import type { LocalRegistry } from '../local/local-registry';
import type { EncodedMessage } from '../message/encoded-message';
import { withEntry } from '../resume/push-protocol';
import { sameSecretHash } from '../resume/resume-token';
import { LocalNode, type HistoryStamp, type LocalDelivery } from './local-node';
import {
  AdoptResult,
  InitialBinding,
  PushEngine,
  PushEngineContext,
  type PushEngineHealth,
} from './push.engine';

/**
 * One process holds every connection: every call is answered by its `LocalNode`, synchronously under the promise.
 * With resume on, every target's history is kept in this process too (`MemoryHistory`). The default engine.
 */
export class MemoryEngine extends PushEngine {
  readonly nodeId = createNodeId();
  private local!: LocalNode;
  private registry!: LocalRegistry;
  private history: MemoryHistory | null = null;
  private expiry: NodeJS.Timeout | null = null;

  async init(context: PushEngineContext): Promise<void> {
    this.local = new LocalNode(context.registry);
    this.registry = context.registry;
    if (context.resume) {
      const history = new MemoryHistory(context.resume.history);
      this.history = history;
      // Targets nobody writes to any more would otherwise keep their history until the next append.
      this.expiry = setInterval(() => history.expire(), Math.max(1000, context.resume.history.maxAge / 4));
      this.expiry.unref();
    }
  }

  async close(): Promise<void> {
    if (this.expiry) clearInterval(this.expiry);
    this.forgetNodeStats();
  }

  /** One process, no backend: always reachable. */
  override async health(): Promise<PushEngineHealth> {
    return { engine: 'memory', reachable: true };
  }

  async register(conn: LocalConnection, initial?: InitialBinding): Promise<void> {
    this.local.add(conn, initial);
    for (const group of initial?.groups ?? []) this.registry.join(conn, group);
    this.markSince(conn, { kind: 'all' });
    if (conn.uid) this.markSince(conn, { kind: 'uid', name: conn.uid });
    for (const group of conn.groups) this.markSince(conn, { kind: 'group', name: group });
  }

  async unregister(conn: LocalConnection): Promise<ClientInfo> {
    return this.local.remove(conn);
  }

  async sendToClient(clientId: string, message: EncodedMessage): Promise<SendResult> {
    return this.done(this.local.deliverToClients([clientId], message, null, this.stamp()));
  }

  async sendToClients(clientIds: string[], message: EncodedMessage, exclude: ReadonlySet<string> | null): Promise<SendResult> {
    return this.done(this.local.deliverToClients(clientIds, message, exclude, this.stamp()));
  }

  async sendToUids(uids: string[], message: EncodedMessage): Promise<SendResult> {
    return this.done(this.local.deliverToUids(uids, message, this.stamp()));
  }

  async sendToGroups(groups: string[], message: EncodedMessage, exclude: ReadonlySet<string> | null): Promise<SendResult> {
    return this.done(this.local.deliverToGroups(groups, message, exclude, this.stamp()));
  }

  async sendToAll(message: EncodedMessage, exclude: ReadonlySet<string> | null): Promise<SendResult> {
    return this.done(this.local.deliverToAll(message, exclude, this.stamp()));
  }

  async bindUid(clientId: string, uid: string): Promise<void> {
    const conn = this.local.require(clientId);
    const previous = this.registry.setUid(conn, uid);
    if (previous === uid) return;
    if (previous !== null) this.forgetSince(conn, { kind: 'uid', name: previous });
    this.markSince(conn, { kind: 'uid', name: uid });
  }

  async unbindUid(clientId: string): Promise<void> {
    const conn = this.local.require(clientId);
    const previous = this.registry.setUid(conn, null);
    if (previous !== null) this.forgetSince(conn, { kind: 'uid', name: previous });
  }

  async joinGroup(clientId: string, group: string): Promise<void> {
    const conn = this.local.require(clientId);
    this.registry.checkJoin(conn, group);
    if (this.registry.join(conn, group)) this.markSince(conn, { kind: 'group', name: group });
  }

  async leaveGroup(clientId: string, group: string): Promise<void> {
    const conn = this.local.require(clientId);
    if (this.registry.leave(conn, group)) this.forgetSince(conn, { kind: 'group', name: group });
  }

  async ungroup(group: string): Promise<number> {
    const members = this.registry.dropGroup(group);
    for (const conn of members) this.forgetSince(conn, { kind: 'group', name: group });
    return members.length;
  }

  async closeClient(clientId: string, finalMessage: EncodedMessage | null, destroy: boolean): Promise<boolean> {
    return this.local.close(clientId, finalMessage, destroy);
  }

  async closeUid(uid: string): Promise<number> {
    return this.local.closeUid(uid);
  }

  async setSession(clientId: string, session: PushSession): Promise<void> {
    const conn = this.local.require(clientId);
    conn.session = this.local.nextSession(conn, session, false).session;
  }

  async updateSession(clientId: string, patch: PushSession): Promise<PushSession> {
    const conn = this.local.require(clientId);
    conn.session = this.local.nextSession(conn, patch, true).session;
    return structuredClone(conn.session);
  }

  async getClients(clientIds: string[]): Promise<(ClientInfo | null)[]> {
    return clientIds.map((id) => this.local.describe(id));
  }

  async getClientIdsByUids(uids: string[]): Promise<string[][]> {
    return uids.map((uid) => this.local.idsOfUid(uid));
  }

  async getClientIdsByGroups(groups: string[]): Promise<string[][]> {
    return groups.map((group) => this.local.idsOfGroup(group));
  }

  async countClientsByGroups(groups: string[]): Promise<number[]> {
    return groups.map((group) => this.registry.connectionsOfGroup(group)?.size ?? 0);
  }

  async countClientsByUids(uids: string[]): Promise<number[]> {
    return uids.map((uid) => this.registry.connectionsOfUid(uid)?.size ?? 0);
  }

  async getAllClientIds(): Promise<string[]> {
    return this.local.allIds();
  }

  async countClients(): Promise<number> {
    return this.registry.size;
  }

  async getAllUids(): Promise<string[]> {
    return [...this.registry.uids()];
  }

  async countUids(): Promise<number> {
    return this.registry.uidCount;
  }

  async getAllGroups(): Promise<string[]> {
    return [...this.registry.groups()];
  }

  async countGroups(): Promise<number> {
    return this.registry.groupCount;
  }

  // ---- resume and recovery -------------------------------------------------------------------------------------

  override get resumable(): boolean {
    return this.history !== null;
  }

  /** One process: a resume always finds the connection here (it keeps its client_id), or nowhere. */
  override async adopt(clientId: string, presented: Buffer): Promise<AdoptResult> {
    const conn = this.local.get(clientId);
    if (!conn?.resume) return { status: 'not_found' };
    if (!sameSecretHash(presented, conn.resume.secretHash)) return { status: 'refused' };
    if (resuming(conn.resume)) {
      throw new PushEngineUnavailableError(`connection ${clientId} is being resumed: try again`);
    }
    return { status: 'local', conn };
  }

  override async readHistory(reads: HistoryRead[]): Promise<HistoryReadResult[]> {
    const history = this.history;
    if (!history) return super.readHistory(reads);
    return reads.map((read) => history.read(read));
  }

  /**
   * How a send records itself: into the target's history, returning the message with its envelope for that target.
   * Nothing is recorded while no connection of this process speaks the resumable protocol (no one could replay it).
   */
  private stamp(): HistoryStamp | null {
    const history = this.history;
    if (!history || this.registry.resumableCount === 0) return null;
    return (message, _target, key, exclude, targets) => withEntry(message, key, history.append(key, message, exclude, targets));
  }

  /** A resumable connection joined a target: its replays never start before this target's history's head now. */
  private markSince(conn: LocalConnection, target: TargetRef): void {
    const since = conn.resume?.since;
    if (!since || !this.history) return;
    const key = targetKey(target);
    // Kept when present: a connection resumed from elsewhere brings where it joined, which is earlier.
    if (!since.has(key)) since.set(key, this.history.head(key));
  }

  private forgetSince(conn: LocalConnection, target: TargetRef): void {
    conn.resume?.since.delete(targetKey(target));
  }

  private async done(delivery: LocalDelivery): Promise<SendResult> {
    const { delivered, held } = await delivery.count;
    return { delivered, held };
  }
}

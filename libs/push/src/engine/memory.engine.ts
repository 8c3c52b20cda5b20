import { createNodeId } from '../identity/client-id';
import type { ClientInfo } from '../interfaces/client-info.interface';
import type { PushSession } from '../interfaces/push-message.interface';
import type { LocalConnection } from '../local/local-connection';
import type { LocalRegistry } from '../local/local-registry';
import type { EncodedMessage } from '../message/encoded-message';
import { LocalNode } from './local-node';
import { InitialBinding, PushEngine, PushEngineContext, type PushEngineHealth } from './push.engine';

/**
 * One process holds every connection: every call is answered by its `LocalNode`, synchronously under the promise.
 * The default engine.
 */
export class MemoryEngine extends PushEngine {
  readonly nodeId = createNodeId();
  private local!: LocalNode;
  private registry!: LocalRegistry;

  async init(context: PushEngineContext): Promise<void> {
    this.local = new LocalNode(context.registry);
    this.registry = context.registry;
  }

  async close(): Promise<void> {
    this.forgetNodeStats();
  }

  /** One process, no backend: always reachable. */
  override async health(): Promise<PushEngineHealth> {
    return { engine: 'memory', reachable: true };
  }

  async register(conn: LocalConnection, initial?: InitialBinding): Promise<void> {
    this.local.add(conn, initial);
  }

  async unregister(conn: LocalConnection): Promise<ClientInfo> {
    return this.local.remove(conn);
  }

  async sendToClient(clientId: string, message: EncodedMessage): Promise<number> {
    return this.local.deliverToClients([clientId], message, null).delivered;
  }

  async sendToClients(clientIds: string[], message: EncodedMessage, exclude: ReadonlySet<string> | null): Promise<number> {
    return this.local.deliverToClients(clientIds, message, exclude).delivered;
  }

  async sendToUids(uids: string[], message: EncodedMessage): Promise<number> {
    return this.local.deliverToUids(uids, message).delivered;
  }

  async sendToGroups(groups: string[], message: EncodedMessage, exclude: ReadonlySet<string> | null): Promise<number> {
    return this.local.deliverToGroups(groups, message, exclude).delivered;
  }

  async sendToAll(message: EncodedMessage, exclude: ReadonlySet<string> | null): Promise<number> {
    return this.local.deliverToAll(message, exclude).delivered;
  }

  async bindUid(clientId: string, uid: string): Promise<void> {
    this.registry.setUid(this.local.require(clientId), uid);
  }

  async unbindUid(clientId: string): Promise<void> {
    this.registry.setUid(this.local.require(clientId), null);
  }

  async joinGroup(clientId: string, group: string): Promise<void> {
    const conn = this.local.require(clientId);
    this.registry.checkJoin(conn, group);
    this.registry.join(conn, group);
  }

  async leaveGroup(clientId: string, group: string): Promise<void> {
    this.registry.leave(this.local.require(clientId), group);
  }

  async ungroup(group: string): Promise<number> {
    return this.registry.dropGroup(group).length;
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
}

import { createNodeId } from '../identity/client-id';
import { PushClientNotFoundError } from '../errors/push.errors';
import type { ClientInfo } from '../interfaces/client-info.interface';
import type { PushSession } from '../interfaces/push-message.interface';
import type { LocalConnection } from '../local/local-connection';
import type { LocalRegistry } from '../local/local-registry';
import type { EncodedMessage } from '../message/encoded-message';
import { deepMerge } from '../util/deep-merge';
import { InitialBinding, PushEngine, PushEngineContext, type PushEngineHealth } from './push.engine';

/**
 * One process holds every connection: every call is answered from the local registry, synchronously under the
 * promise. The default engine.
 */
export class MemoryEngine extends PushEngine {
  readonly nodeId = createNodeId();
  private registry!: LocalRegistry;

  async init(context: PushEngineContext): Promise<void> {
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
    this.registry.add(conn);
    if (initial?.session) conn.session = structuredClone(initial.session);
    if (initial?.uid) this.registry.setUid(conn, initial.uid);
  }

  async unregister(conn: LocalConnection): Promise<ClientInfo> {
    return this.registry.remove(conn);
  }

  async sendToClient(clientId: string, message: EncodedMessage): Promise<number> {
    const conn = this.registry.get(clientId);
    return conn ? this.registry.deliver([conn], message) : 0;
  }

  async sendToClients(clientIds: string[], message: EncodedMessage, exclude: ReadonlySet<string> | null): Promise<number> {
    const targets = new Set<LocalConnection>();
    for (const id of clientIds) {
      const conn = this.registry.get(id);
      if (conn) targets.add(conn);
    }
    return this.registry.deliver(targets, message, exclude);
  }

  async sendToUids(uids: string[], message: EncodedMessage): Promise<number> {
    let delivered = 0;
    // A connection has one uid, so distinct uids never share a connection: no de-duplication needed.
    for (const uid of new Set(uids)) {
      const conns = this.registry.connectionsOfUid(uid);
      if (conns) delivered += await this.registry.deliver(conns, message);
    }
    return delivered;
  }

  async sendToGroups(groups: string[], message: EncodedMessage, exclude: ReadonlySet<string> | null): Promise<number> {
    if (groups.length === 1) {
      const members = this.registry.connectionsOfGroup(groups[0]);
      return members ? this.registry.deliver(members, message, exclude) : 0;
    }
    const targets = new Set<LocalConnection>();
    for (const group of groups) {
      const members = this.registry.connectionsOfGroup(group);
      if (members) for (const conn of members) targets.add(conn);
    }
    return this.registry.deliver(targets, message, exclude);
  }

  async sendToAll(message: EncodedMessage, exclude: ReadonlySet<string> | null): Promise<number> {
    return this.registry.deliver(this.registry.all, message, exclude);
  }

  async bindUid(clientId: string, uid: string): Promise<void> {
    this.registry.setUid(this.require(clientId), uid);
  }

  async unbindUid(clientId: string): Promise<void> {
    this.registry.setUid(this.require(clientId), null);
  }

  async joinGroup(clientId: string, group: string): Promise<void> {
    const conn = this.require(clientId);
    this.registry.checkJoin(conn, group);
    this.registry.join(conn, group);
  }

  async leaveGroup(clientId: string, group: string): Promise<void> {
    this.registry.leave(this.require(clientId), group);
  }

  async ungroup(group: string): Promise<number> {
    return this.registry.dropGroup(group).length;
  }

  async closeClient(clientId: string, finalMessage: EncodedMessage | null, destroy: boolean): Promise<boolean> {
    const conn = this.registry.get(clientId);
    if (!conn) return false;
    return destroy ? this.registry.destroy(conn) : this.registry.close(conn, 1000, 'closed-by-server', finalMessage);
  }

  async closeUid(uid: string): Promise<number> {
    const conns = this.registry.connectionsOfUid(uid);
    if (!conns) return 0;
    let closed = 0;
    for (const conn of [...conns]) if (this.registry.close(conn, 1000, 'closed-by-server')) closed++;
    return closed;
  }

  async setSession(clientId: string, session: PushSession): Promise<void> {
    const conn = this.require(clientId);
    this.registry.checkSession(JSON.stringify(session));
    conn.session = structuredClone(session);
  }

  async updateSession(clientId: string, patch: PushSession): Promise<PushSession> {
    const conn = this.require(clientId);
    const merged = deepMerge(conn.session, structuredClone(patch));
    this.registry.checkSession(JSON.stringify(merged));
    conn.session = merged;
    return structuredClone(merged);
  }

  async getClients(clientIds: string[]): Promise<(ClientInfo | null)[]> {
    return clientIds.map((id) => {
      const conn = this.registry.get(id);
      return conn ? this.registry.describe(conn) : null;
    });
  }

  async getClientIdsByUids(uids: string[]): Promise<string[][]> {
    return uids.map((uid) => idsOf(this.registry.connectionsOfUid(uid)));
  }

  async getClientIdsByGroups(groups: string[]): Promise<string[][]> {
    return groups.map((group) => idsOf(this.registry.connectionsOfGroup(group)));
  }

  async countClientsByGroups(groups: string[]): Promise<number[]> {
    return groups.map((group) => this.registry.connectionsOfGroup(group)?.size ?? 0);
  }

  async countClientsByUids(uids: string[]): Promise<number[]> {
    return uids.map((uid) => this.registry.connectionsOfUid(uid)?.size ?? 0);
  }

  async getAllClientIds(): Promise<string[]> {
    return idsOf(this.registry.connections());
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

  private require(clientId: string): LocalConnection {
    const conn = this.registry.get(clientId);
    if (!conn) throw new PushClientNotFoundError(clientId);
    return conn;
  }
}

function idsOf(conns: Iterable<LocalConnection> | undefined): string[] {
  const ids: string[] = [];
  if (conns) for (const conn of conns) ids.push(conn.id);
  return ids;
}

import type { ClientInfo } from '../interfaces/client-info.interface';
import type { PushSession } from '../interfaces/push-message.interface';
import type { LocalConnection } from '../local/local-connection';
import type { LocalRegistry } from '../local/local-registry';
import type { EncodedMessage } from '../message/encoded-message';
import type { PushMetrics } from '../push-metrics.service';
import type { NodeStats } from '../stats/node-stats.interface';

/** What the module hands an engine when it starts. */
export interface PushEngineContext {
  /** This process's sockets (empty on a push-only node). */
  registry: LocalRegistry;
  /** This process's counters. */
  metrics: PushMetrics;
}

/** What a connection starts with when `authenticate` named it. */
export interface InitialBinding {
  uid?: string | null;
  session?: PushSession;
}

/**
 * How an engine and its backend are doing, for health checks (`PushEngine.health`). A type rather than an interface
 * so that it is assignable to a plain record (health-check libraries take it as additional data).
 */
export type PushEngineHealth = {
  /** `memory`, `redis`, or a custom engine's class name. */
  engine: string;
  /** Whether the backend answered within the bound (true for an engine without one). */
  reachable: boolean;
  /** The backend's round trip, in ms, when it answered. */
  latencyMs?: number;
  /**
   * A cluster engine's subscriber connection: `up`; `reconnecting`; `deaf` (its own probe is overdue, as on a
   * half-open connection); `resyncing` (it was deaf and reconnected, and this node's connections are not back in
   * the index yet). Absent for an engine without one.
   */
  subscriber?: 'up' | 'reconnecting' | 'deaf' | 'resyncing';
  /** What is wrong, in words, when something is. */
  message?: string;
};

/**
 * Routes every call of `PushService` to the nodes that hold its targets and answers queries. The service and the
 * gateway talk to this class only, never to a concrete engine, so one process (memory) and a cluster (Redis)
 * behave the same. Arguments arrive validated and messages arrive encoded; an engine throws
 * `PushClientNotFoundError` for a write aimed at a client_id that is not connected,
 * `PushEngineUnavailableError` when its backend cannot be reached, and `PushLimitExceededError` when the holder
 * refuses a join or a session by the registry's `checkJoin` / `checkSession`. Writes to one connection take
 * effect in the order they were called.
 *
 * It is an abstract class so that it serves both as the TypeScript type and as the Nest injection token.
 */
export abstract class PushEngine {
  /** This node's id: the first 16 hex characters of every client_id it issues. */
  abstract readonly nodeId: string;

  /** Called once when the module starts, before any connection is accepted. */
  abstract init(context: PushEngineContext): Promise<void>;
  /** Called once when the module stops, after every local connection has closed. */
  abstract close(): Promise<void>;

  /**
   * Whether the backend answers within `timeoutMs` and this node hears the cluster. Never rejects: a failure is
   * reported in the result. Engines with a backend override it; this default (no backend) reports reachable.
   */
  async health(timeoutMs?: number): Promise<PushEngineHealth> {
    void timeoutMs;
    return { engine: this.constructor.name, reachable: true };
  }

  /** Makes a newly accepted local connection visible to the whole cluster, with its initial binding. */
  abstract register(conn: LocalConnection, initial?: InitialBinding): Promise<void>;
  /** Removes a closed local connection from the cluster; returns what it had when it closed. */
  abstract unregister(conn: LocalConnection): Promise<ClientInfo>;

  /** Sends to one connection; resolves to 1 when delivered, 0 when it is not connected. */
  abstract sendToClient(clientId: string, message: EncodedMessage): Promise<number>;
  /** Sends once to each listed connection (duplicates ignored) that is not excluded. */
  abstract sendToClients(clientIds: string[], message: EncodedMessage, exclude: ReadonlySet<string> | null): Promise<number>;
  /** Sends to every connection bound to any of `uids`. */
  abstract sendToUids(uids: string[], message: EncodedMessage): Promise<number>;
  /** Sends once to every connection in any of `groups`, except the excluded client_ids. */
  abstract sendToGroups(groups: string[], message: EncodedMessage, exclude: ReadonlySet<string> | null): Promise<number>;
  /** Sends to every connection, except the excluded client_ids. */
  abstract sendToAll(message: EncodedMessage, exclude: ReadonlySet<string> | null): Promise<number>;

  /** Binds a uid to a connection, replacing its previous uid. */
  abstract bindUid(clientId: string, uid: string): Promise<void>;
  /** Removes a connection's uid (no-op when none is bound). */
  abstract unbindUid(clientId: string): Promise<void>;
  /** Adds a connection to a group (no-op when already a member). */
  abstract joinGroup(clientId: string, group: string): Promise<void>;
  /** Removes a connection from a group (no-op when not a member). */
  abstract leaveGroup(clientId: string, group: string): Promise<void>;
  /** Dissolves a group: every member leaves it. Resolves to how many members it had. */
  abstract ungroup(group: string): Promise<number>;

  /** Closes one connection (flushing `finalMessage` first), or cuts it at once when `destroy` is set. */
  abstract closeClient(clientId: string, finalMessage: EncodedMessage | null, destroy: boolean): Promise<boolean>;
  /** Closes every connection bound to `uid`; resolves to how many were closed. */
  abstract closeUid(uid: string): Promise<number>;

  /** Replaces a connection's session. */
  abstract setSession(clientId: string, session: PushSession): Promise<void>;
  /** Deep-merges `patch` into a connection's session; resolves to the merged session. */
  abstract updateSession(clientId: string, patch: PushSession): Promise<PushSession>;

  /** What each listed connection has, or null for one that is not connected. */
  abstract getClients(clientIds: string[]): Promise<(ClientInfo | null)[]>;
  /** For each uid, the client_ids bound to it. */
  abstract getClientIdsByUids(uids: string[]): Promise<string[][]>;
  /** For each group, its members' client_ids. */
  abstract getClientIdsByGroups(groups: string[]): Promise<string[][]>;
  /** For each group, how many members it has. */
  abstract countClientsByGroups(groups: string[]): Promise<number[]>;
  /** For each uid, how many connections it has. */
  abstract countClientsByUids(uids: string[]): Promise<number[]>;
  /** Every connected client_id. */
  abstract getAllClientIds(): Promise<string[]>;
  /** How many connections there are. */
  abstract countClients(): Promise<number>;
  /** Every uid with at least one connection. */
  abstract getAllUids(): Promise<string[]>;
  /** How many uids have at least one connection. */
  abstract countUids(): Promise<number>;
  /** Every group with at least one member. */
  abstract getAllGroups(): Promise<string[]>;
  /** How many groups have at least one member (without building the list). */
  abstract countGroups(): Promise<number>;

  // ---- node stats (the dashboard) ------------------------------------------------------------------------------
  // Not abstract, so an engine written before them keeps compiling: by default they keep this node's snapshot in
  // this process, which is all a one-process engine needs. An engine that spans processes overrides both.

  private ownStats: { stats: NodeStats; expires: number } | null = null;

  /**
   * Makes this node's snapshot visible to `getClusterStats()` on every node for `ttl` ms (replacing the previous
   * one), so a node that stops publishing disappears on its own. Rejects with `PushEngineUnavailableError` when the
   * backend cannot be reached. Called by `NodeStatsPublisher` every `nodeStatsInterval`.
   */
  async publishNodeStats(stats: NodeStats, ttl: number): Promise<void> {
    this.ownStats = { stats: { ...stats }, expires: Date.now() + ttl };
  }

  /**
   * The latest snapshot of every node whose snapshot has not expired, sorted by node id (by default: this node's
   * own, or none). Rejects with `PushEngineUnavailableError` when the backend cannot be reached.
   */
  async getClusterStats(): Promise<NodeStats[]> {
    const own = this.ownStats;
    return own && own.expires > Date.now() ? [{ ...own.stats }] : [];
  }

  /** Drops this node's snapshot from the default store (an engine that closes calls it). */
  protected forgetNodeStats(): void {
    this.ownStats = null;
  }
}

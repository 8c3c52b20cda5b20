import type { HistoryOffset } from '../history/history-offset';
import type { HistoryRead, HistoryReadResult } from '../history/history.interface';
import type { ClientInfo } from '../interfaces/client-info.interface';
import type { PushSession } from '../interfaces/push-message.interface';
import type { SendResult } from '../interfaces/send-result.interface';
import type { LocalConnection } from '../local/local-connection';
import type { LocalRegistry } from '../local/local-registry';
import type { EncodedMessage } from '../message/encoded-message';
import type { PushMetrics } from '../push-metrics.service';
import type { ResolvedResumeOptions } from '../push-options';
import type { NodeStats } from '../stats/node-stats.interface';

/** What the module hands an engine when it starts. */
export interface PushEngineContext {
  /** This process's sockets (empty on a push-only node). */
  registry: LocalRegistry;
  /** This process's counters. */
  metrics: PushMetrics;
  /** Resume and recovery settings (the history bounds); false or absent when they are off. */
  resume?: ResolvedResumeOptions | false;
}

/** What a connection starts with: what `authenticate` named, or what a connection resumed from another node had. */
export interface InitialBinding {
  uid?: string | null;
  session?: PushSession;
  /** Groups (a connection resumed from another node keeps its groups). */
  groups?: readonly string[];
}

/** A resumable connection taken over from another node (or from a node that is gone), to be registered here anew. */
export interface AdoptedRecord {
  /** Its client_id on the node that held it (it gets a new one here). */
  clientId: string;
  uid: string | null;
  groups: string[];
  session: PushSession;
  /** Where it joined each target's history (see `ResumeState.since`). */
  since: Map<string, HistoryOffset | null>;
  /** History that concerned it may have been lost while it was held (see `ResumeState.historyLost`). */
  historyLost: boolean;
}

/** What `PushEngine.adopt` found for a resume token. */
export type AdoptResult =
  /** This node holds it: it resumes with its client_id (the caller re-attaches the new socket). */
  | { status: 'local'; conn: LocalConnection }
  /** Another node held it (or held it before it went away): it resumes here with a new client_id. */
  | { status: 'moved'; record: AdoptedRecord }
  /** No resumable connection has that client_id (closed for good, window passed, or never existed). */
  | { status: 'not_found' }
  /** The secret does not match (forged, or already used by another resume). */
  | { status: 'refused' };

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

  // Every send resolves to what it did: `delivered` (written to a socket) and `held` (in history for a dropped
  // resumable connection, which receives it if it resumes in time).

  /** Sends to one connection (delivered 1 when written, held 1 when it is dropped and resumable, else 0). */
  abstract sendToClient(clientId: string, message: EncodedMessage): Promise<SendResult>;
  /** Sends once to each listed connection (duplicates ignored) that is not excluded. */
  abstract sendToClients(clientIds: string[], message: EncodedMessage, exclude: ReadonlySet<string> | null): Promise<SendResult>;
  /** Sends to every connection bound to any of `uids`. */
  abstract sendToUids(uids: string[], message: EncodedMessage): Promise<SendResult>;
  /** Sends once to every connection in any of `groups`, except the excluded client_ids. */
  abstract sendToGroups(groups: string[], message: EncodedMessage, exclude: ReadonlySet<string> | null): Promise<SendResult>;
  /** Sends to every connection, except the excluded client_ids. */
  abstract sendToAll(message: EncodedMessage, exclude: ReadonlySet<string> | null): Promise<SendResult>;

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

  // ---- resume and recovery --------------------------------------------------------------------------------------
  // Not abstract, so an engine written before them keeps compiling: by default it keeps no history and refuses every
  // resume as `not_found` (clients then start afresh and bind again, and are told their gap was not recovered).

  /** Whether connections can resume through this engine (it keeps history). */
  get resumable(): boolean {
    return false;
  }

  /**
   * Whether a connection dropped by this node's graceful shutdown can resume afterwards, on another node or on this
   * one once it is back: true for an engine whose records and histories outlive the process (a cluster engine). The
   * gateway then closes resumable connections with 1012 and keeps them detached instead of ending them.
   */
  get handsOverOnShutdown(): boolean {
    return false;
  }

  /**
   * A resumable connection's socket dropped and the registry now holds it detached (`LocalRegistry.detach`): make that
   * known beyond this process if the engine spans several (a cluster engine marks it in its index), so that another
   * node can adopt it if it resumes there.
   */
  async detach(conn: LocalConnection): Promise<void> {
    void conn;
  }

  /**
   * A resumable connection dropped earlier was resumed on this node with a new socket (`LocalRegistry.reattach`; it
   * keeps its client_id) and its welcome, with its new secret, was written: make that known beyond this process if the
   * engine spans several.
   */
  async reattach(conn: LocalConnection): Promise<void> {
    void conn;
  }

  /**
   * Finds the resumable connection `clientId` for a resume and checks that `presented` is the SHA-256 of its current
   * secret. On this node it is returned as it is: the caller changes its secret when it writes the welcome (so the
   * client's token stays good until it has the next one), and a second resume while one is under way
   * (`resuming(conn.resume)`) must be answered with `PushEngineUnavailableError` (the client tries again). On another
   * node it is offered to this one until `release` (a second resume meanwhile is told to try again, and one after
   * the release finds nothing). Rejects with `PushEngineUnavailableError` when that cannot be decided now.
   */
  async adopt(clientId: string, presented: Buffer): Promise<AdoptResult> {
    void clientId;
    void presented;
    return { status: 'not_found' };
  }

  /**
   * The connection adopted as `record` is now registered here under a new client_id: remove the old one (its node's
   * entries, or a gone node's record), without a close event. Called after the new one is registered, so that its
   * uid and groups never lack a member in between (a push then would reach no history).
   */
  async release(record: AdoptedRecord): Promise<void> {
    void record;
  }

  /**
   * The connection adopted as `record` will not be taken after all (another user's login, its socket closed, its copy
   * could not be registered): nothing is released, the offer lapses, and this node may take it again meanwhile.
   */
  async forgo(record: AdoptedRecord): Promise<void> {
    void record;
  }

  /** Reads what a resuming connection missed, target by target (see `HistoryRead`). */
  async readHistory(reads: HistoryRead[]): Promise<HistoryReadResult[]> {
    return reads.map((read) => ({ key: read.key, epoch: null, after: 0, entries: [], complete: false }));
  }

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

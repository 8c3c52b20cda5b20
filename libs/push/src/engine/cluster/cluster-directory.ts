import type { ClientInfo } from '../../interfaces/client-info.interface';
import type { AdoptedRecord } from '../push.engine';

/** What the directory keeps of a connection on the resumable protocol (the official client). */
export interface ResumableFields {
  /** SHA-256 of its current resume secret, hex. */
  secretHash: string;
  /** Where it joined each of its targets' histories: [history key, `<epoch>.<n>` or null]. */
  since: readonly (readonly [string, string | null])[];
  /** History that concerned it may have been lost (its next resume is not `recovered`). */
  historyLost: boolean;
  /** Until when it is dropped and resumable (ms); 0 while attached. */
  detachedUntil: number;
}

/** One connection as its holder writes it into the directory. */
export interface ConnectionRecord {
  clientId: string;
  uid: string | null;
  groups: readonly string[];
  /** The session's JSON. */
  session: string;
  /** Present for a connection on the resumable protocol. */
  resumable?: ResumableFields;
}

/**
 * Where a resumable connection joined a target's history, as its record keeps it: [history key, `<epoch>.<n>` or null
 * when the target had no history]. A bind that replaces a uid also names the key it `drop`s.
 */
export type SinceField = readonly [key: string, offset: string | null];

/** What `adopt` found: the connection's record, taken for the caller, or why not. */
export type DirectoryAdoption =
  | { status: 'ok'; record: AdoptedRecord; generation: string }
  /** `busy`: it is offered to another resume right now (the caller tells its client to try again). */
  | { status: 'not_found' | 'refused' | 'busy' };

/** What a connection was bound to, so its removal can undo every binding (the holder's view). */
export interface ConnectionBindings {
  clientId: string;
  uid: string | null;
  groups: readonly string[];
}

/** A node's published `NodeStats`, as JSON. */
export interface NodeStatsEntry {
  node: string;
  json: string;
}

/**
 * The index half of a cluster backend: every connection, uid and group of the cluster, so that queries are answered
 * by the backend alone, never by asking the nodes. Only the node that holds a connection writes its entries
 * (single writer), and `ClusterEngine` serialises the writes to one connection, so an implementation needs no
 * locking of its own. Each write resolves to false when the connection is missing from the index (the backend lost
 * its data: the engine then resyncs), and rejects when the backend cannot be reached.
 *
 * Counts of uids and groups are kept by hosting node: `host` is called when a uid or group gains its first member
 * on a node and `unhost` when it loses its last, so that `countUids` and `countGroups` are one read each.
 */
export interface ClusterDirectory {
  /** Writes connections whole (replacing what was there), held by `node`. */
  register(node: string, records: readonly ConnectionRecord[]): Promise<void>;
  /** Removes connections and every binding they had (the given ones and whatever the index had). */
  unregister(node: string, connections: readonly ConnectionBindings[]): Promise<void>;
  /**
   * Moves a connection from `previous` to `uid` (null: none). For a resumable connection, `since` says where it joined
   * the new uid's history (`set`) and which key of the old one to drop.
   */
  setUid(
    clientId: string,
    previous: string | null,
    uid: string | null,
    since?: { drop: string | null; set: SinceField | null },
  ): Promise<boolean>;
  /** Adds a connection to a group (a resumable one with where it joined the group's history, `since`). */
  join(clientId: string, group: string, since?: SinceField): Promise<boolean>;
  /** Removes a connection from a group (a resumable one also forgets the `sinceKey` field). */
  leave(clientId: string, group: string, sinceKey?: string): Promise<boolean>;
  /** Replaces a connection's session JSON. */
  setSession(clientId: string, session: string): Promise<boolean>;
  /** `node` now hosts (`hosted`) or no longer hosts a uid or group. */
  host(node: string, kind: 'uid' | 'group', name: string, hosted: boolean): Promise<void>;
  /**
   * No node hosts this uid or group any more (a dissolved group): its count goes now, not once every node heard.
   * A node that still has a member later calls `host` again.
   */
  unhostEverywhere(kind: 'uid' | 'group', name: string): Promise<void>;
  /** Sets exactly what `node` hosts (the resync), adding and removing in the counts accordingly. */
  rehost(node: string, uids: readonly string[], groups: readonly string[]): Promise<void>;
  /** The client_ids the index says `node` holds. */
  heldBy(node: string): Promise<string[]>;

  /** Renews `node`'s liveness for `ttl` ms; resolves to true when it was absent (first start, reaped, data lost). */
  heartbeat(node: string, ttl: number): Promise<boolean>;
  /** Nodes whose liveness expired. */
  deadNodes(): Promise<string[]>;
  /** Whether `node`'s liveness has not expired. */
  isAlive(node: string): Promise<boolean>;
  /**
   * Removes a dead node's connections and hosted names, in batches of `batch`, if this node (`by`) wins the reap
   * lock for `lockTtl` ms; resolves to whether it did (and the node is gone). With `resumeWindow` (ms), the records of
   * its resumable connections are kept, dropped and adoptable, until their window ends (the next reaps remove them
   * then), and the node is forgotten once nothing is left: until then it resolves to false.
   */
  reap(node: string, by: string, batch: number, lockTtl: number, resumeWindow?: number): Promise<boolean>;
  /** Removes a node that is leaving (after its connections were unregistered): liveness, hosted names, stats. */
  forgetNode(node: string): Promise<void>;

  // ---- resume (optional: a directory without them makes an engine that refuses every resume) ---------------------

  /**
   * Marks a resumable connection dropped until `until` (ms), or attached again with 0, in its record and in the sets
   * of dropped members of its uid, groups and everyone (sends count it as held, not delivered). `generation` is the
   * backend's generation when it dropped (see `generation`): a resume that sees another one may have lost history.
   * Resolves to false when the connection is missing from the index.
   */
  setDetached?(node: string, connection: ConnectionBindings, until: number, generation: string): Promise<boolean>;
  /** Records a resumable connection's new secret hash (hex): a resume on its own node rotates it. */
  setSecret?(node: string, connection: ConnectionBindings, secretHash: string): Promise<boolean>;
  /**
   * Marks a resumable connection offered to a resume on node `by` until `until` (ms): no other resume takes it
   * meanwhile. The taker removes it once its own copy is registered; if it never does, the offer lapses.
   */
  setMoved?(node: string, connection: ConnectionBindings, by: string, until: number): Promise<boolean>;
  /** For each group, the client_ids of its dropped resumable members. */
  getDroppedByGroups?(groups: readonly string[]): Promise<string[][]>;
  /**
   * Takes the resumable connection `clientId` that `node` left (it is gone, or going): checks the presented secret's
   * hash (hex) and the window, and offers the record to `by` for `offerWindow` ms (another taker meanwhile is told
   * `busy`). The taker removes the record once its own copy is registered (`unregister`); if it never does, the
   * offer lapses and the record can be taken again with the same token.
   */
  adopt?(node: string, clientId: string, presentedHash: string, by: string, offerWindow: number): Promise<DirectoryAdoption>;
  /**
   * Marks a node gone now (its liveness expires at once) without removing its entries: its dropped resumable
   * connections stay adoptable until their windows end, and the reaper removes what is left.
   */
  markGone?(node: string): Promise<void>;

  /** What each listed connection has, or null. */
  getClients(clientIds: readonly string[]): Promise<(ClientInfo | null)[]>;
  getClientIdsByUids(uids: readonly string[]): Promise<string[][]>;
  getClientIdsByGroups(groups: readonly string[]): Promise<string[][]>;
  countClientsByUids(uids: readonly string[]): Promise<number[]>;
  countClientsByGroups(groups: readonly string[]): Promise<number[]>;
  getAllClientIds(): Promise<string[]>;
  countClients(): Promise<number>;
  getAllUids(): Promise<string[]>;
  countUids(): Promise<number>;
  getAllGroups(): Promise<string[]>;
  countGroups(): Promise<number>;

  /** Stores `node`'s stats JSON for `ttl` ms. */
  publishNodeStats(node: string, json: string, ttl: number): Promise<void>;
  /** Every stored stats entry of a node still in the liveness index. */
  getNodeStats(): Promise<NodeStatsEntry[]>;
  /** Round trip to the backend; rejects when it does not answer. */
  ping(): Promise<void>;
  /**
   * Optional: a value that changes whenever the backend may have lost data without any connection noticing (a
   * server of a cluster restarted empty while the client stayed connected to the others). Liveness reads it every
   * tick and resyncs when it changes.
   */
  generation?(): Promise<string>;
}

import { Inject, Injectable } from '@nestjs/common';
import { PushEngine } from './engine/push.engine';
import { PushInvalidArgumentError } from './errors/push.errors';
import { isClientId } from './identity/client-id';
import type { PushMessage, PushSession } from './interfaces/push-message.interface';
import type { PushTarget, SendResult } from './interfaces/send-result.interface';
import { EncodedMessage } from './message/encoded-message';
import { PUSH_RESOLVED_OPTIONS } from './push.constants';
import { PushMetrics, PushMetricsSnapshot } from './push-metrics.service';
import type { ResolvedPushOptions } from './push-options';
import type { NodeStats } from './stats/node-stats.interface';
import { isPlainObject } from './util/deep-merge';
import { isWellFormedString } from './util/well-formed';

/** Options of `sendToGroup`. */
export interface SendToGroupOptions {
  /** client_ids that must not receive it (typically the sender's own tab). */
  exclude?: string | string[];
}

/** Options of `sendToAll`. */
export interface SendToAllOptions {
  /** Send only to these client_ids. An empty list sends to nobody (not to everybody). */
  clientIds?: string[];
  /** client_ids that must not receive it. */
  exclude?: string | string[];
}

/** Options of `send`. */
export interface SendOptions {
  /** client_ids that must not receive it (for a `group`, `all` or `clientIds` target). */
  exclude?: string | string[];
}

const NOBODY: SendResult = Object.freeze({ delivered: 0, held: 0 });

const TARGET_KINDS = ['clientId', 'clientIds', 'uid', 'group', 'all'] as const;

/**
 * The push channel's public API: GatewayWorker's `Gateway::*` calls, typed and promise-returning. Every call
 * validates its arguments (a `PushInvalidArgumentError`, HTTP 400, names the bad one), encodes a message once,
 * and hands the rest to the engine, so it means the same on one process or a cluster, on a node with sockets
 * or a push-only one. Every failure, a bad argument included, is a rejected promise, never a synchronous throw:
 * `push.sendToUid(uid, m).catch(log)` is safe.
 */
@Injectable()
export class PushService {
  constructor(
    private readonly engine: PushEngine,
    @Inject(PUSH_RESOLVED_OPTIONS) private readonly options: ResolvedPushOptions,
    private readonly metrics: PushMetrics,
  ) {}

  /** The id of this node (the first 16 characters of the client_ids it issues). */
  get nodeId(): string {
    return this.engine.nodeId;
  }

  // ---- send ------------------------------------------------------------------------------------------------
  // The GatewayWorker-style calls resolve to `delivered`: how many connections the message was written to. A dropped
  // connection that may resume (the official client) is not counted there: the message is held for it, and `send`
  // reports those as `held`.

  /** Sends to one connection. Resolves to 1 when written to it, 0 otherwise (not connected, or dropped: see `send`). */
  async sendToClient(clientId: string, message: PushMessage): Promise<number> {
    return (await this.toClient(clientId, message)).delivered;
  }

  /** Sends to every connection (tab, device) of one uid or of several. Resolves to how many it was written to. */
  async sendToUid(uid: string | string[], message: PushMessage): Promise<number> {
    return (await this.toUids(uid, message)).delivered;
  }

  /** Sends to every member of one group or of several (once each), minus `exclude`. */
  async sendToGroup(group: string | string[], message: PushMessage, options: SendToGroupOptions = {}): Promise<number> {
    return (await this.toGroups(group, message, options.exclude)).delivered;
  }

  /**
   * Sends to every connection, or only to `clientIds` when that is given (an empty list sends to nobody),
   * minus `exclude`.
   */
  async sendToAll(message: PushMessage, options: SendToAllOptions = {}): Promise<number> {
    return (await this.toAll(message, options.clientIds, options.exclude)).delivered;
  }

  /**
   * Sends to one target (`{ clientId }`, `{ clientIds }`, `{ uid }`, `{ group }` or `{ all: true }`) and resolves to
   * both counts: `delivered`, the connections it was written to (what the `sendTo*` calls return), and `held`, the
   * dropped connections of the resumable protocol it is kept for: they receive it if they resume within
   * `resume.window`.
   */
  async send(target: PushTarget, message: PushMessage, options: SendOptions = {}): Promise<SendResult> {
    const given = isPlainObject(target) ? TARGET_KINDS.filter((kind) => target[kind as keyof PushTarget] !== undefined) : [];
    if (given.length !== 1) {
      throw new PushInvalidArgumentError('target must give exactly one of clientId, clientIds, uid, group or all');
    }
    const t = target as Partial<Record<(typeof TARGET_KINDS)[number], unknown>>;
    switch (given[0]) {
      case 'clientId':
        if (options.exclude !== undefined) this.excludeSet(options.exclude);
        return this.toClient(t.clientId, message);
      case 'clientIds':
        return this.toAll(message, t.clientIds as string[], options.exclude);
      case 'uid':
        if (options.exclude !== undefined) this.excludeSet(options.exclude);
        return this.toUids(t.uid, message);
      case 'group':
        return this.toGroups(t.group, message, options.exclude);
      case 'all':
        if (t.all !== true) throw new PushInvalidArgumentError('all must be true');
        return this.toAll(message, undefined, options.exclude);
    }
  }

  private async toClient(clientId: unknown, message: PushMessage): Promise<SendResult> {
    this.clientId(clientId);
    return this.engine.sendToClient(clientId, EncodedMessage.encode(message));
  }

  private async toUids(uid: unknown, message: PushMessage): Promise<SendResult> {
    const uids = this.ids('uid', uid);
    const encoded = EncodedMessage.encode(message);
    return uids.length === 0 ? NOBODY : this.engine.sendToUids(uids, encoded);
  }

  private async toGroups(group: unknown, message: PushMessage, exclude: string | string[] | undefined): Promise<SendResult> {
    const groups = this.ids('group', group);
    const excluded = this.excludeSet(exclude);
    const encoded = EncodedMessage.encode(message);
    return groups.length === 0 ? NOBODY : this.engine.sendToGroups(groups, encoded, excluded);
  }

  private async toAll(
    message: PushMessage,
    clientIds: string[] | undefined,
    exclude: string | string[] | undefined,
  ): Promise<SendResult> {
    const excluded = this.excludeSet(exclude);
    const encoded = EncodedMessage.encode(message);
    if (clientIds !== undefined) {
      const ids = this.clientIds('clientIds', clientIds);
      return ids.length === 0 ? NOBODY : this.engine.sendToClients(ids, encoded, excluded);
    }
    return this.engine.sendToAll(encoded, excluded);
  }

  // ---- bind ------------------------------------------------------------------------------------------------

  /** Binds `uid` to a connection (replacing its previous uid). Rejects with 404 if the client is not connected. */
  async bindUid(clientId: string, uid: string): Promise<void> {
    this.clientId(clientId);
    this.id('uid', uid);
    return this.engine.bindUid(clientId, uid);
  }

  /** Removes a connection's uid. Rejects with 404 if the client is not connected. */
  async unbindUid(clientId: string): Promise<void> {
    this.clientId(clientId);
    return this.engine.unbindUid(clientId);
  }

  /** Adds a connection to a group. Rejects with 404 if the client is not connected. */
  async joinGroup(clientId: string, group: string): Promise<void> {
    this.clientId(clientId);
    this.id('group', group);
    return this.engine.joinGroup(clientId, group);
  }

  /** Removes a connection from a group. Rejects with 404 if the client is not connected. */
  async leaveGroup(clientId: string, group: string): Promise<void> {
    this.clientId(clientId);
    this.id('group', group);
    return this.engine.leaveGroup(clientId, group);
  }

  /** Dissolves a group (its members stay connected). Resolves to how many members it had. */
  async ungroup(group: string): Promise<number> {
    this.id('group', group);
    return this.engine.ungroup(group);
  }

  // ---- control ---------------------------------------------------------------------------------------------

  /**
   * Closes a connection with 1000 after flushing what is queued for it, `finalMessage` last.
   * Resolves to false when it was not connected.
   */
  async closeClient(clientId: string, finalMessage?: PushMessage): Promise<boolean> {
    this.clientId(clientId);
    const encoded = finalMessage === undefined ? null : EncodedMessage.encode(finalMessage);
    return this.engine.closeClient(clientId, encoded, false);
  }

  /** Cuts a connection at once, without a close handshake. Resolves to false when it was not connected. */
  async destroyClient(clientId: string): Promise<boolean> {
    this.clientId(clientId);
    return this.engine.closeClient(clientId, null, true);
  }

  /** Closes every connection of a uid (log it out everywhere). Resolves to how many were closed. */
  async closeUid(uid: string): Promise<number> {
    this.id('uid', uid);
    return this.engine.closeUid(uid);
  }

  // ---- session ---------------------------------------------------------------------------------------------

  /** Replaces a connection's session with a JSON object. Rejects with 404 if the client is not connected. */
  async setSession(clientId: string, session: PushSession): Promise<void> {
    this.clientId(clientId);
    return this.engine.setSession(clientId, this.session(session));
  }

  /**
   * Deep-merges `patch` into a connection's session (nested objects merge, arrays replace, `null` deletes a key).
   * Resolves to the merged session. Rejects with 404 if the client is not connected.
   */
  async updateSession(clientId: string, patch: PushSession): Promise<PushSession> {
    this.clientId(clientId);
    return this.engine.updateSession(clientId, this.session(patch));
  }

  /** A connection's session, or null when it is not connected. */
  async getSession(clientId: string): Promise<PushSession | null> {
    this.clientId(clientId);
    const [info] = await this.engine.getClients([clientId]);
    return info ? info.session : null;
  }

  // ---- online ----------------------------------------------------------------------------------------------

  /** Whether a client_id is connected anywhere in the cluster. */
  async isOnline(clientId: string): Promise<boolean> {
    this.clientId(clientId);
    const [info] = await this.engine.getClients([clientId]);
    return info !== null;
  }

  /** Whether a uid has at least one connection. */
  async isUidOnline(uid: string): Promise<boolean> {
    this.id('uid', uid);
    const [count] = await this.engine.countClientsByUids([uid]);
    return count > 0;
  }

  /** For each uid, whether it has at least one connection (one engine call for the whole batch). */
  async isUidsOnline(uids: string[]): Promise<Record<string, boolean>> {
    const list = this.ids('uid', uids);
    const counts = list.length ? await this.engine.countClientsByUids(list) : [];
    return Object.fromEntries(list.map((uid, i) => [uid, counts[i] > 0]));
  }

  // ---- lookups ---------------------------------------------------------------------------------------------

  /** The client_ids bound to a uid (empty when offline). */
  async getClientIdByUid(uid: string): Promise<string[]> {
    this.id('uid', uid);
    const [ids] = await this.engine.getClientIdsByUids([uid]);
    return ids;
  }

  /** For each uid, the client_ids bound to it. */
  async batchGetClientIdByUid(uids: string[]): Promise<Record<string, string[]>> {
    const list = this.ids('uid', uids);
    const ids = list.length ? await this.engine.getClientIdsByUids(list) : [];
    return Object.fromEntries(list.map((uid, i) => [uid, ids[i]]));
  }

  /** The uid bound to a connection, or null (unbound or not connected). */
  async getUidByClientId(clientId: string): Promise<string | null> {
    this.clientId(clientId);
    const [info] = await this.engine.getClients([clientId]);
    return info ? info.uid : null;
  }

  /** The groups a connection is in (empty when not connected). */
  async getGroupsByClientId(clientId: string): Promise<string[]> {
    this.clientId(clientId);
    const [info] = await this.engine.getClients([clientId]);
    return info ? info.groups : [];
  }

  // ---- counts and lists ------------------------------------------------------------------------------------

  /** How many connections there are. */
  async getAllClientIdCount(): Promise<number> {
    return this.engine.countClients();
  }

  /** How many groups have at least one member (counted by the engine, without building the list). */
  async getAllGroupIdCount(): Promise<number> {
    return this.engine.countGroups();
  }

  /** Every connected client_id. */
  async getAllClientIdList(): Promise<string[]> {
    return this.engine.getAllClientIds();
  }

  /** client_id → session of every connection, or of one group's members. */
  async getAllClientSessions(group?: string): Promise<Record<string, PushSession>> {
    if (group !== undefined) return this.getClientSessionsByGroup(group);
    return this.sessionsOf(await this.engine.getAllClientIds());
  }

  /** How many connections a group has. */
  async getClientIdCountByGroup(group: string): Promise<number> {
    this.id('group', group);
    const [count] = await this.engine.countClientsByGroups([group]);
    return count;
  }

  /** For each group, how many connections it has. */
  async batchGetClientIdCountByGroup(groups: string[]): Promise<Record<string, number>> {
    const list = this.ids('group', groups);
    const counts = list.length ? await this.engine.countClientsByGroups(list) : [];
    return Object.fromEntries(list.map((group, i) => [group, counts[i]]));
  }

  /** The members of one group, or of several (each client_id once). */
  async getClientIdListByGroup(group: string | string[]): Promise<string[]> {
    const list = this.ids('group', group);
    if (list.length === 0) return [];
    const lists = await this.engine.getClientIdsByGroups(list);
    return lists.length === 1 ? lists[0] : [...new Set(lists.flat())];
  }

  /** client_id → session of one group's members. */
  async getClientSessionsByGroup(group: string): Promise<Record<string, PushSession>> {
    this.id('group', group);
    const [ids] = await this.engine.getClientIdsByGroups([group]);
    return this.sessionsOf(ids);
  }

  /** The distinct uids bound to a group's members. */
  async getUidListByGroup(group: string): Promise<string[]> {
    this.id('group', group);
    const [ids] = await this.engine.getClientIdsByGroups([group]);
    return this.uidsOf(ids);
  }

  /** How many distinct uids a group's members are bound to. */
  async getUidCountByGroup(group: string): Promise<number> {
    return (await this.getUidListByGroup(group)).length;
  }

  /** Every uid with at least one connection. */
  async getAllUidList(): Promise<string[]> {
    return this.engine.getAllUids();
  }

  /** How many uids have at least one connection. */
  async getAllUidCount(): Promise<number> {
    return this.engine.countUids();
  }

  /** Every group with at least one member. */
  async getAllGroupIdList(): Promise<string[]> {
    return this.engine.getAllGroups();
  }

  /** group → distinct uids of its members, for every group. */
  async getAllGroupUidList(): Promise<Record<string, string[]>> {
    const byGroup = await this.getAllGroupClientIdList();
    const infos = await this.infoMap(Object.values(byGroup).flat());
    return mapValues(byGroup, (ids) => distinctUids(ids.map((id) => infos.get(id)?.uid ?? null)));
  }

  /** group → how many distinct uids its members are bound to, for every group. */
  async getAllGroupUidCount(): Promise<Record<string, number>> {
    return mapValues(await this.getAllGroupUidList(), (uids) => uids.length);
  }

  /** group → client_ids of its members, for every group. */
  async getAllGroupClientIdList(): Promise<Record<string, string[]>> {
    const groups = await this.engine.getAllGroups();
    const lists = groups.length ? await this.engine.getClientIdsByGroups(groups) : [];
    return Object.fromEntries(groups.map((group, i) => [group, lists[i]]));
  }

  /** group → how many members it has, for every group. */
  async getAllGroupClientIdCount(): Promise<Record<string, number>> {
    const groups = await this.engine.getAllGroups();
    const counts = groups.length ? await this.engine.countClientsByGroups(groups) : [];
    return Object.fromEntries(groups.map((group, i) => [group, counts[i]]));
  }

  // ---- this node -------------------------------------------------------------------------------------------

  /** This process's counters: drops, refusals and deliveries (see `PushMetrics`). */
  getMetrics(): PushMetricsSnapshot {
    return this.metrics.snapshot();
  }

  // ---- the cluster's nodes ---------------------------------------------------------------------------------

  /**
   * The latest stats snapshot of every node of the cluster that publishes them (`nodeStatsInterval`), sorted by
   * node id: on the memory engine this node only. A node that stopped publishing is gone within
   * 3 × its interval; a node with `nodeStatsInterval: false` is never listed. Gauges are per node; per-second
   * rates come from two snapshots of one node (`Δcounter / Δtime`). Rejects with `PushEngineUnavailableError` (503)
   * when the engine cannot be reached. On Redis: 2 round trips (the node directory, then one MGET).
   */
  async getClusterStats(): Promise<NodeStats[]> {
    return this.engine.getClusterStats();
  }

  // ---- helpers ---------------------------------------------------------------------------------------------

  private async sessionsOf(clientIds: string[]): Promise<Record<string, PushSession>> {
    const infos = clientIds.length ? await this.engine.getClients(clientIds) : [];
    const entries: [string, PushSession][] = [];
    for (const info of infos) if (info) entries.push([info.clientId, info.session]);
    return Object.fromEntries(entries);
  }

  private async uidsOf(clientIds: string[]): Promise<string[]> {
    const infos = clientIds.length ? await this.engine.getClients(clientIds) : [];
    return distinctUids(infos.map((info) => info?.uid ?? null));
  }

  private async infoMap(clientIds: string[]) {
    const unique = [...new Set(clientIds)];
    const infos = unique.length ? await this.engine.getClients(unique) : [];
    return new Map(infos.filter((info) => info !== null).map((info) => [info.clientId, info]));
  }

  private clientId(value: unknown, name = 'client_id'): asserts value is string {
    if (!isClientId(value)) {
      throw new PushInvalidArgumentError(`${name} must be a client_id (48 lowercase hex characters)`);
    }
  }

  private clientIds(name: string, values: unknown): string[] {
    if (!Array.isArray(values)) throw new PushInvalidArgumentError(`${name} must be an array of client_ids`);
    for (const value of values) this.clientId(value, `each of ${name}`);
    return values as string[];
  }

  private excludeSet(exclude: string | string[] | undefined): ReadonlySet<string> | null {
    if (exclude === undefined) return null;
    const list = this.clientIds('exclude', typeof exclude === 'string' ? [exclude] : exclude);
    return list.length ? new Set(list) : null;
  }

  private id(kind: 'uid' | 'group', value: unknown): asserts value is string {
    if (typeof value !== 'string' || value.length === 0) {
      throw new PushInvalidArgumentError(`${kind} must be a non-empty string`);
    }
    if (value.length > this.options.maxIdLength) {
      throw new PushInvalidArgumentError(`${kind} must be at most ${this.options.maxIdLength} characters`);
    }
    if (!isWellFormedString(value)) {
      throw new PushInvalidArgumentError(`${kind} must be a well-formed string (it has a lone UTF-16 surrogate)`);
    }
  }

  private ids(kind: 'uid' | 'group', value: unknown): string[] {
    const list = Array.isArray(value) ? value : [value];
    for (const item of list) this.id(kind, item);
    return list as string[];
  }

  private session(value: unknown): PushSession {
    if (!isPlainObject(value)) throw new PushInvalidArgumentError('session must be a plain JSON object');
    let json: string | undefined;
    try {
      json = JSON.stringify(value);
    } catch (error) {
      throw new PushInvalidArgumentError(`session cannot be serialised as JSON: ${(error as Error).message}`);
    }
    // A JSON round trip drops what other engines could not store either (undefined, functions, class identity);
    // the result is checked again because a toJSON method can turn an object into anything.
    const parsed: unknown = json === undefined ? undefined : JSON.parse(json);
    if (!isPlainObject(parsed)) throw new PushInvalidArgumentError('session must serialise to a JSON object');
    return parsed;
  }
}

function distinctUids(uids: (string | null)[]): string[] {
  const out = new Set<string>();
  for (const uid of uids) if (uid !== null) out.add(uid);
  return [...out];
}

function mapValues<A, B>(record: Record<string, A>, fn: (value: A) => B): Record<string, B> {
  return Object.fromEntries(Object.entries(record).map(([key, value]) => [key, fn(value)]));
}

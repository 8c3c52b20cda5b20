import { Logger } from '@nestjs/common';
import { isPushError, PushClientNotFoundError, PushEngineUnavailableError } from '../../errors/push.errors';
import { formatOffset, parseOffset, type HistoryOffset } from '../../history/history-offset';
import type { HistoryLimits, HistoryRead, HistoryReadResult } from '../../history/history.interface';
import { connectionTargets, targetKey, type TargetRef } from '../../history/target-key';
import { createNodeId, nodeIdOf } from '../../identity/client-id';
import type { ClientInfo } from '../../interfaces/client-info.interface';
import type { PushSession } from '../../interfaces/push-message.interface';
import type { SendResult } from '../../interfaces/send-result.interface';
import { serialWrite, serialWriteAll } from '../../local/connection-writes';
import type { LocalConnection } from '../../local/local-connection';
import type { LocalRegistry } from '../../local/local-registry';
import { EncodedMessage } from '../../message/encoded-message';
import type { PushMetrics } from '../../push-metrics.service';
import { parseNodeStats } from '../../stats/node-stats';
import type { NodeStats } from '../../stats/node-stats.interface';
import { envelopeOf } from '../../resume/push-protocol';
import { LocalNode, type LocalDelivery } from '../local-node';
import {
  AdoptedRecord,
  AdoptResult,
  InitialBinding,
  PushEngine,
  PushEngineContext,
  type PushEngineHealth,
} from '../push.engine';
import type { ClusterDirectory, ConnectionBindings, ConnectionRecord } from './cluster-directory';
import type { ClusterHistory } from './cluster-history';
import type { HolderCall } from './cluster-message';
import type { ClusterRoute, ClusterTransport } from './cluster-transport';
import { within } from '../../util/within';
import { HandOver } from './hand-over';
import { HolderWrites } from './holder-writes';
import { Liveness } from './liveness';
import { RecordedSends } from './recorded-sends';
import { ClusterInbox, NodeMessaging } from './node-messaging';
import { Resync } from './resync';
import { RouteSubscriptions } from './route-subscriptions';

/** Connections per directory call when a node writes or removes many at once. */
const BATCH = 500;

/** What a cluster backend hands its engine once connected. */
export interface ClusterBackend {
  transport: ClusterTransport;
  directory: ClusterDirectory;
  /** The history half (resume and recovery); without it, or without the directory's resume methods, none. */
  history?: ClusterHistory | null;
}

/** The timings every cluster engine runs on (the Redis engine's options of the same names). */
export interface ClusterTimings {
  /** How long a node stays alive in the index without renewing, in ms. */
  nodeTtl: number;
  /** How often a node renews itself, probes its listener and reaps dead nodes, in ms. */
  reapInterval: number;
  /** How long a call waits for another node, and a backend command for its answer, in ms. */
  requestTimeout: number;
}

/**
 * Many processes behind a shared backend: a `ClusterTransport` for messages between nodes and a `ClusterDirectory`
 * for the index. A backend implements those two and `connect`; this class does the rest, the same for every
 * backend, from parts with one concern each:
 *
 * - `LocalNode`: this process's sockets (what every engine shares);
 * - `NodeMessaging`: typed, versioned messages between nodes, and request/reply to the holder of a connection;
 * - `RouteSubscriptions`: listening on exactly the uid and group routes this node has members for;
 * - `HolderWrites`: what the holder of a connection does to it (bind, join, session, close), for any caller;
 * - `Liveness`: renewing this node, reaping dead ones, probing its own listener;
 * - `Resync`: writing this node back into the index after an outage or a data loss;
 * - `RecordedSends`: the send path when the engine keeps history (resume on);
 * - `HandOver`: where a resume token leads across nodes (this one, the live holder, or the index).
 *
 * Rules it keeps: only the holder of a connection writes its entries (a write aimed at another node's connection
 * is a call to that node); writes to one connection are applied in call order (`serialWrite`); a push is written
 * locally first, never waiting for the backend, and the count adds the members the index knows elsewhere; a bind
 * resolves once the holder listens on the uid's route; while the backend is down, local delivery goes on and
 * cluster calls fail at once with `PushEngineUnavailableError`.
 */
export abstract class ClusterEngine extends PushEngine {
  readonly nodeId = createNodeId();
  protected readonly logger = new Logger(this.constructor.name);
  protected metrics!: PushMetrics;
  protected registry!: LocalRegistry;
  protected local!: LocalNode;
  protected transport!: ClusterTransport;
  protected directory!: ClusterDirectory;
  protected messaging!: NodeMessaging;
  protected subscriptions!: RouteSubscriptions;
  protected liveness!: Liveness;
  protected resync!: Resync;
  protected holder!: HolderWrites;
  /**
   * The history bounds when resume is on (set before `connect`, so a backend can build its history half with them);
   * null when it is off.
   */
  protected historyLimits: HistoryLimits | null = null;
  /** The history half when this engine resumes connections (resume on, and a backend that supports it). */
  private history: ClusterHistory | null = null;
  /** How long a dropped resumable connection stays adoptable (resume.window). */
  private resumeWindow = 0;
  /** The send path when this engine keeps history; null when it does not. */
  private recordedSends: RecordedSends | null = null;
  /** Where resume tokens lead across nodes, when this engine resumes connections; null when it does not. */
  private handOver: HandOver | null = null;
  /**
   * The last offset of each uid's, group's and everyone's history this node delivered (it hears them in offset order):
   * a connection that joins one here continues its sequence from there. Only for targets this node listens to.
   */
  private readonly delivered = new Map<string, HistoryOffset>();
  private closing = false;
  /** The listener was found deaf: this node's connections are out of the index until the next resync. */
  private withdrawn = false;

  protected constructor(protected readonly timings: ClusterTimings) {
    super();
  }

  /** Connects to the backend (rejecting with a readable error when it cannot) and returns its two halves. */
  protected abstract connect(): Promise<ClusterBackend>;
  /** Closes the backend's connections (after `close`, or when `init` failed once connected). */
  protected abstract disconnect(): Promise<void> | void;

  /** Whether `error` is the backend's "command timed out" (counted as a request timeout too). */
  protected isTimeout(error: unknown): boolean {
    void error;
    return false;
  }

  /** The engine's name in health results (`redis`, `redis-cluster`, …). */
  protected abstract readonly engineName: string;
  /** The backend's name in messages (`Redis`, …). */
  protected abstract readonly backendName: string;

  async init(context: PushEngineContext): Promise<void> {
    this.metrics = context.metrics;
    this.registry = context.registry;
    this.local = new LocalNode(context.registry);
    this.historyLimits = context.resume ? context.resume.history : null;
    const { transport, directory, history } = await this.connect();
    this.transport = transport;
    this.directory = directory;
    if (context.resume && history && directory.adopt && directory.setDetached) {
      this.history = history;
      this.resumeWindow = context.resume.window;
    }
    this.messaging = new NodeMessaging(
      this.nodeId,
      transport,
      this.inbox(),
      this.metrics,
      this.timings.requestTimeout,
      (node) => directory.isAlive(node),
      (error) => this.failed(error),
    );
    this.resync = new Resync((reason) => this.writeBack(reason), (error) => this.failed(error));
    this.subscriptions = new RouteSubscriptions(
      this.nodeId,
      transport,
      directory,
      (what, error) => this.indexWriteFailed(what, error),
      this.timings.requestTimeout,
    );
    if (this.history) {
      this.recordedSends = new RecordedSends(this.nodeId, this.local, directory, this.history, this.messaging, {
        run: (call) => this.run(call),
        failure: (error, delivered, partly) => {
          this.failed(error);
          return this.unavailable(error, delivered, partly);
        },
      });
      this.handOver = new HandOver(this.nodeId, this.local, directory, this.timings.requestTimeout, {
        run: (call) => this.run(call),
        onHolder: (clientId, call) => this.onHolder(clientId, call),
        markInIndex: (conn, write) => this.markInIndex(conn, write),
        indexWriteFailed: (what, error) => this.indexWriteFailed(what, error),
        failed: (error) => this.failed(error),
        generation: () => this.liveness.currentGeneration,
        ensureGeneration: () => this.liveness.ensureGeneration(),
      });
    }
    const holderResume = this.history && {
      head: async (target: TargetRef) => (await this.history!.heads([target]))[0],
      adopt: (clientId: string, hash: string, by: string) => this.handOver!.offer(clientId, hash, by),
      release: (clientId: string, by: string) => this.handOver!.releaseOffered(clientId, by),
      delivered: (key: string) => this.delivered.get(key),
    };
    this.holder = new HolderWrites(
      this.local,
      directory,
      this.subscriptions,
      { write: (call) => this.indexWrite(call), failed: (what, error) => this.indexWriteFailed(what, error) },
      holderResume,
    );
    const resync = this.resync;
    const state = { withdrawn: () => this.withdrawn };
    this.liveness = new Liveness(
      this.nodeId,
      directory,
      transport,
      {
        sendProbe: (id) => transport.publishToNode(this.nodeId, this.messaging.encode({ op: 'probe', id })).then(() => undefined),
        deaf: (silentMs) => void this.listenerDeaf(silentMs),
        resync: (reason) => resync.schedule(reason),
        dataLost: () => this.historyLostForAll(),
        get resyncOwed() {
          return resync.isOwed;
        },
        get withdrawn() {
          return state.withdrawn();
        },
        failed: (error) => this.failed(error),
      },
      { ...this.timings, resumeWindow: this.history ? this.resumeWindow : undefined },
    );
    try {
      await transport.start(this.nodeId, (route, payload) => this.messaging.receive(route, payload));
      await this.liveness.start();
    } catch (error) {
      await transport.close().catch(() => undefined);
      await this.disconnect();
      throw new Error(`${this.constructor.name}: cannot start on ${this.backendName}: ${(error as Error).message}`);
    }
    // Either side coming back means the index or the subscriptions may be stale: the resync listens again (confirmed)
    // before it makes this node's connections visible, so nothing is counted for a node that is not listening yet.
    transport.onReconnect(() => {
      if (this.closing) return;
      this.liveness.markStale();
      this.resync.schedule('the listener reconnected');
    });
    this.registry.onMembership((kind, name, present) => {
      this.subscriptions.onMembership(kind, name, present);
      if (!present) this.delivered.delete(targetKey({ kind, name }));
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    this.liveness?.stop();
    this.resync?.stop();
    // A write-back still running would put connections back after the withdrawal below, for nobody to reap.
    await this.resync?.inProgress;
    this.registry?.onMembership(null);
    // Leave the index as if this node had never been: whatever is still held goes, then the node itself. Except, when
    // connections resume: the dropped ones stay (they resume on another node, which adopts them from the index), and
    // the node is marked gone rather than forgotten, so that the reaper removes them once their windows end. Calls are
    // answered until then: a resume elsewhere meanwhile is handed over at once, and once this node is gone from the
    // index, others adopt from it without calling (rather than wait for a node that no longer listens).
    try {
      if (this.handsOverOnShutdown) {
        await this.withdrawAll((conn) => !this.registry.isDetached(conn));
        await this.directory.markGone!(this.nodeId);
      } else {
        await this.withdrawAll();
        await this.directory.forgetNode(this.nodeId);
      }
    } catch (error) {
      this.logger.warn(`could not remove this node's entries (the reaper will): ${(error as Error).message}`);
    }
    this.messaging?.close('the push engine is shutting down');
    this.forgetNodeStats();
    await this.transport?.close();
    await this.disconnect();
  }

  /**
   * The backend answers within `timeoutMs` (default `requestTimeout`), and the listener hears this node's own
   * probes. Never rejects.
   */
  override async health(timeoutMs = this.timings.requestTimeout): Promise<PushEngineHealth> {
    const subscriber = this.liveness.listenerState();
    const started = performance.now();
    try {
      await within(this.directory.ping(), timeoutMs, `no answer within ${timeoutMs} ms`);
    } catch (error) {
      const message = `${this.backendName} did not answer a PING: ${(error as Error).message}`;
      return { engine: this.engineName, reachable: false, subscriber, message };
    }
    const latencyMs = Math.round((performance.now() - started) * 1000) / 1000;
    const health: PushEngineHealth = { engine: this.engineName, reachable: true, latencyMs, subscriber };
    if (subscriber !== 'up') {
      health.message = `the ${this.backendName} subscriber is ${subscriber}: this node may miss cluster pushes`;
    }
    return health;
  }

  // ---- the gateway's side --------------------------------------------------------------------------------------

  async register(conn: LocalConnection, initial?: InitialBinding): Promise<void> {
    this.local.add(conn, initial);
    for (const group of initial?.groups ?? []) this.registry.join(conn, group);
    await serialWrite(conn, async () => {
      if (!this.local.holds(conn)) return;
      try {
        await this.markSince(conn);
        await this.directory.register(this.nodeId, [recordOf(conn)]);
      } catch (error) {
        // Accepted locally all the same: local pushes reach it, and the resync writes it once the backend is back.
        this.indexWriteFailed('register', error);
      }
    });
    if (conn.uid) await this.subscriptions.ready('uid', conn.uid);
    for (const group of conn.groups) await this.subscriptions.ready('group', group);
  }

  /**
   * A resumable connection's place in each of its targets' histories, where it has none yet (a connection resumed
   * from another node brings its own): their heads now, read before it joins them.
   */
  private async markSince(conn: LocalConnection): Promise<void> {
    const since = conn.resume?.since;
    if (!since || !this.history) return;
    // Its client_id's history is not kept there (see `joinedAt`).
    const missing = targetsOf(conn).filter((target) => target.kind !== 'client' && !since.has(targetKey(target)));
    if (missing.length === 0) return;
    const heads = await this.history.heads(missing);
    missing.forEach((target, i) => since.set(targetKey(target), heads[i]));
  }

  async unregister(conn: LocalConnection): Promise<ClientInfo> {
    // Off the local index at once (no push reaches a closed socket); off the directory after any write still in
    // flight for it, which then finds it gone and leaves nothing behind.
    const info = this.local.remove(conn);
    await serialWrite(conn, async () => {
      try {
        await this.directory.unregister(this.nodeId, [info]);
      } catch (error) {
        this.indexWriteFailed('unregister', error);
      }
    });
    return info;
  }

  // ---- send ----------------------------------------------------------------------------------------------------

  async sendToClient(clientId: string, message: EncodedMessage): Promise<SendResult> {
    return this.sendToClients([clientId], message, null);
  }

  async sendToClients(clientIds: string[], message: EncodedMessage, exclude: ReadonlySet<string> | null): Promise<SendResult> {
    if (this.recordedSends) return this.recordedSends.toClients(clientIds, message, exclude);
    const byNode = new Map<string, string[]>();
    const mine: string[] = [];
    for (const id of new Set(clientIds)) {
      if (exclude?.has(id)) continue;
      const node = nodeIdOf(id);
      if (node === this.nodeId) mine.push(id);
      else {
        const ids = byNode.get(node);
        if (ids) ids.push(id);
        else byNode.set(node, [id]);
      }
    }
    const local = this.local.deliverToClients(mine, message, null);
    if (byNode.size === 0) return { ...(await local.count) };
    return this.fanoutEach(
      local,
      [...byNode].map(([node, ids]) => ({
        count: this.transport.publishToNode(node, this.messaging.encodePush(message, { c: ids }), ids),
        here: 0,
      })),
    );
  }

  async sendToUids(uids: string[], message: EncodedMessage): Promise<SendResult> {
    if (this.recordedSends) return this.recordedSends.toTargets(uids.map((name) => ({ kind: 'uid', name })), message, null);
    const unique = [...new Set(uids)];
    const local = this.local.deliverToUids(unique, message);
    const payload = this.messaging.encodePush(message);
    return this.fanoutEach(
      local,
      unique.map((uid) => ({
        count: this.transport.publishToUid(uid, payload),
        here: this.registry.connectionsOfUid(uid)?.size ?? 0,
      })),
    );
  }

  async sendToGroups(groups: string[], message: EncodedMessage, exclude: ReadonlySet<string> | null): Promise<SendResult> {
    if (this.recordedSends) return this.recordedSends.toGroups([...new Set(groups)], message, exclude);
    const unique = [...new Set(groups)];
    const local = this.local.deliverToGroups(unique, message, exclude);
    const excluded = exclude ? [...exclude] : [];
    if (unique.length === 1) {
      const payload = this.messaging.encodePush(message, { x: excluded });
      return this.fanout(local, () => this.transport.publishToGroup(unique[0], payload, excluded));
    }
    // Several groups: a connection in two of them must get the message once, so the members are read, de-duplicated
    // here, and each node that holds one gets a single message naming the groups.
    return this.fanout(local, async () => {
      const memberLists = await this.directory.getClientIdsByGroups(unique);
      const targets = new Set<string>();
      for (const members of memberLists) for (const id of members) if (!exclude?.has(id)) targets.add(id);
      const nodes = new Set<string>();
      for (const id of targets) nodes.add(nodeIdOf(id));
      nodes.delete(this.nodeId);
      const payload = this.messaging.encodePush(message, { g: unique, x: excluded.length ? excluded : undefined });
      await Promise.all([...nodes].map((node) => this.transport.publishToNode(node, payload)));
      return targets.size;
    });
  }

  async sendToAll(message: EncodedMessage, exclude: ReadonlySet<string> | null): Promise<SendResult> {
    if (this.recordedSends) return this.recordedSends.toTargets([{ kind: 'all' }], message, exclude);
    const local = this.local.deliverToAll(message, exclude);
    const excluded = exclude ? [...exclude] : [];
    const payload = this.messaging.encodePush(message, { x: excluded });
    return this.fanout(local, () => this.transport.publishToAll(payload, excluded));
  }

  // ---- bind ----------------------------------------------------------------------------------------------------

  async bindUid(clientId: string, uid: string): Promise<void> {
    await this.found(clientId, this.onHolder(clientId, { fn: 'bind', uid }));
  }

  async unbindUid(clientId: string): Promise<void> {
    await this.found(clientId, this.onHolder(clientId, { fn: 'unbind' }));
  }

  async joinGroup(clientId: string, group: string): Promise<void> {
    await this.found(clientId, this.onHolder(clientId, { fn: 'join', group }));
  }

  async leaveGroup(clientId: string, group: string): Promise<void> {
    await this.found(clientId, this.onHolder(clientId, { fn: 'leave', group }));
  }

  async ungroup(group: string): Promise<number> {
    const dropped = this.holder.dropGroup(group);
    // Both leave in this turn, before the local members' own leave writes reach the group's set (so its count is
    // whole), the counts first: the other nodes drop their members when they hear of it, a moment later, and a
    // member that joins after this hosts the group again (a clear issued later would erase it).
    const [, total] = await this.run(
      () =>
        Promise.all([
          this.directory.unhostEverywhere('group', group),
          this.transport.dissolveGroup(group, this.messaging.encode({ op: 'ungroup' })),
        ]),
      dropped,
    );
    return Math.max(total, dropped);
  }

  // ---- control -------------------------------------------------------------------------------------------------

  async closeClient(clientId: string, finalMessage: EncodedMessage | null, destroy: boolean): Promise<boolean> {
    const call: HolderCall = { fn: 'close', destroy, final: finalMessage !== null };
    const result = await this.onHolder(clientId, call, finalMessage?.data, finalMessage?.binary ?? false, finalMessage);
    return result === true;
  }

  async closeUid(uid: string): Promise<number> {
    const closed = this.local.closeUid(uid);
    const total = await this.run(() => this.transport.publishToUid(uid, this.messaging.encode({ op: 'close-uid' })), closed);
    return Math.max(total, closed);
  }

  // ---- session -------------------------------------------------------------------------------------------------

  async setSession(clientId: string, session: PushSession): Promise<void> {
    const result = await this.onHolder(clientId, { fn: 'setSession', session });
    if (result === false || result === null) throw new PushClientNotFoundError(clientId);
  }

  async updateSession(clientId: string, patch: PushSession): Promise<PushSession> {
    const merged = await this.onHolder(clientId, { fn: 'updateSession', patch });
    if (!merged) throw new PushClientNotFoundError(clientId);
    return merged as PushSession;
  }

  // ---- queries: answered by the directory ----------------------------------------------------------------------

  getClients(clientIds: string[]): Promise<(ClientInfo | null)[]> {
    return this.run(() => this.directory.getClients(clientIds));
  }

  getClientIdsByUids(uids: string[]): Promise<string[][]> {
    return this.run(() => this.directory.getClientIdsByUids(uids));
  }

  getClientIdsByGroups(groups: string[]): Promise<string[][]> {
    return this.run(() => this.directory.getClientIdsByGroups(groups));
  }

  countClientsByGroups(groups: string[]): Promise<number[]> {
    return this.run(() => this.directory.countClientsByGroups(groups));
  }

  countClientsByUids(uids: string[]): Promise<number[]> {
    return this.run(() => this.directory.countClientsByUids(uids));
  }

  getAllClientIds(): Promise<string[]> {
    return this.run(() => this.directory.getAllClientIds());
  }

  countClients(): Promise<number> {
    return this.run(() => this.directory.countClients());
  }

  getAllUids(): Promise<string[]> {
    return this.run(() => this.directory.getAllUids());
  }

  countUids(): Promise<number> {
    return this.run(() => this.directory.countUids());
  }

  getAllGroups(): Promise<string[]> {
    return this.run(() => this.directory.getAllGroups());
  }

  countGroups(): Promise<number> {
    return this.run(() => this.directory.countGroups());
  }

  // ---- node stats ----------------------------------------------------------------------------------------------

  override async publishNodeStats(stats: NodeStats, ttl: number): Promise<void> {
    await this.run(() => this.directory.publishNodeStats(this.nodeId, JSON.stringify(stats), Math.ceil(ttl)));
  }

  /** Every node's latest snapshot; a stored value that is not a snapshot is counted in `badClusterMessages`. */
  override async getClusterStats(): Promise<NodeStats[]> {
    const entries = await this.run(() => this.directory.getNodeStats());
    const stats: NodeStats[] = [];
    for (const { node, json } of entries) {
      const parsed = parseNodeStats(json);
      if (parsed && parsed.nodeId === node) stats.push(parsed);
      else this.metrics.badClusterMessages++;
    }
    return stats.sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0));
  }

  // ---- what other nodes ask of this one -------------------------------------------------------------------------

  private inbox(): ClusterInbox {
    return {
      push: (route, message, exclude, recorded) => {
        const members =
          route.kind === 'all'
            ? this.registry.all
            : route.kind === 'uid'
              ? this.registry.connectionsOfUid(route.name)
              : route.kind === 'group'
                ? this.registry.connectionsOfGroup(route.name)
                : undefined;
        if (!members) return;
        if (!recorded || route.kind === 'node') return this.local.deliverFromCluster(members, message, exclude);
        const target: TargetRef = route.kind === 'all' ? { kind: 'all' } : { kind: route.kind, name: route.name };
        const { offset } = recorded;
        const key = targetKey(target);
        if (offset) this.delivered.set(key, offset);
        let stamped = offset ? message.withEnvelope(envelopeOf(message, { key, offset })) : message;
        if (recorded.own) stamped = stamped.forAudience('resumable');
        // A send to several groups reaches a connection once: through the first of them it is in.
        const earlier = recorded.groups && route.kind === 'group' ? recorded.groups.slice(0, recorded.groups.indexOf(route.name)) : [];
        if (earlier.length === 0) return this.local.deliverFromCluster(members, stamped, exclude);
        const audience: LocalConnection[] = [];
        const reachedEarlier: LocalConnection[] = [];
        for (const conn of members as ReadonlySet<LocalConnection>) {
          (earlier.some((group) => conn.groups.has(group)) ? reachedEarlier : audience).push(conn);
        }
        this.registry.passOver(reachedEarlier, stamped);
        this.local.deliverFromCluster(audience, stamped, exclude);
      },
      pushToClients: (clientIds, message, offsets, own) => {
        const plain = new Set<LocalConnection>();
        for (const id of clientIds) {
          const conn = this.local.get(id);
          if (!conn) continue;
          const offset = conn.resume && offsets?.[id] ? parseOffset(offsets[id]) : null;
          if (offset) {
            const key = targetKey({ kind: 'client', name: id });
            this.local.deliverFromCluster([conn], message.withEnvelope(envelopeOf(message, { key, offset })), null);
          } else if (!own) plain.add(conn); // this node's own send wrote its plain connections already
        }
        if (plain.size) this.local.deliverFromCluster(plain, message, null);
      },
      pushToGroups: (groups, message, exclude) => {
        const targets = new Set<LocalConnection>();
        for (const group of groups) {
          const members = this.registry.connectionsOfGroup(group);
          if (members) for (const conn of members) targets.add(conn);
        }
        if (targets.size) this.local.deliverFromCluster(targets, message, exclude);
      },
      closeUid: (uid) => void this.local.closeUid(uid),
      ungroup: (group) => void this.holder.dropGroup(group),
      probeHeard: (id) => this.liveness.heard(id),
      serve: (clientId, call, body, binary, from) => this.holder.serve(clientId, call, body, binary, from),
    };
  }

  // ---- routing -------------------------------------------------------------------------------------------------

  /** Runs `call` here when this node holds the client, otherwise asks the holder and waits for its answer. */
  private onHolder(
    clientId: string,
    call: HolderCall,
    body?: Buffer,
    binary = false,
    finalMessage: EncodedMessage | null = null,
  ): Promise<unknown> {
    const node = nodeIdOf(clientId);
    if (node === this.nodeId) {
      if (call.fn === 'close') return Promise.resolve(this.local.close(clientId, finalMessage, call.destroy));
      return this.holder.serve(clientId, call, body ?? EMPTY, binary);
    }
    return this.messaging.call(node, clientId, call, body, binary).catch((error: unknown) => {
      if (isPushError(error)) throw error;
      this.failed(error);
      throw this.unavailable(error);
    });
  }

  private async found(clientId: string, result: Promise<unknown>): Promise<void> {
    if ((await result) !== true) throw new PushClientNotFoundError(clientId);
  }

  // ---- resync --------------------------------------------------------------------------------------------------

  /**
   * The listener is deaf: take this node's connections out of the index at once, so that other nodes stop counting
   * pushes it cannot hear, then reconnect it; the resync on reconnect listens again and writes everything back.
   */
  private async listenerDeaf(silentMs: number): Promise<void> {
    this.withdrawn = true;
    this.logger.warn(
      `the subscriber has not heard this node's probe for ${silentMs} ms (half-open connection?): ` +
        `withdrawing ${this.registry.size} connection(s) from the index and reconnecting it`,
    );
    try {
      await this.withdrawAll();
      await this.directory.rehost(this.nodeId, [], []);
    } catch (error) {
      this.failed(error);
      this.logger.warn(`could not withdraw this node's connections: ${(error as Error).message}`);
    }
    // Counted once the withdrawal is written: from then on no other node counts a push this node cannot hear.
    this.metrics.subscriberResets++;
    this.resync.owe();
    this.transport.reconnectListener();
  }

  /**
   * Removes the connections this node holds (those `which` picks; all by default) from the index (its local registry
   * is left as it is).
   */
  private withdrawAll(which?: (conn: LocalConnection) => boolean): Promise<number> {
    return this.forEachBatch(
      (batch) =>
        this.directory.unregister(
          this.nodeId,
          batch.map((conn) => ({ clientId: conn.id, uid: conn.uid, groups: [...conn.groups] })),
        ),
      which,
    );
  }

  /** Writes this node's own connections back into the index, and removes what it no longer holds. */
  private async writeBack(reason: string): Promise<void> {
    // First listen again on every route this node needs, confirmed by the backend; only then publish the index.
    await this.transport.whenListening(this.timings.requestTimeout);
    const routes: ClusterRoute[] = [{ kind: 'node', node: this.nodeId }, { kind: 'all' }, ...this.subscriptions.all()];
    // Bounded: a resync that waited forever would block every later one.
    const bound = this.timings.requestTimeout + routes.length; // a ms per route on top, for a large node
    await within(this.transport.resubscribe(routes), bound, `the subscriptions were not confirmed within ${bound} ms`);
    await this.directory.heartbeat(this.nodeId, this.timings.nodeTtl);
    const indexed = await this.directory.heldBy(this.nodeId);
    const stale = indexed.filter((id) => !this.local.get(id));
    for (let i = 0; i < stale.length; i += BATCH) {
      await this.directory.unregister(
        this.nodeId,
        stale.slice(i, i + BATCH).map((clientId) => ({ clientId, uid: null, groups: [] })),
      );
    }
    await this.directory.rehost(this.nodeId, [...this.registry.uids()], [...this.registry.groups()]);
    // Each batch is written in its connections' write turn, from their state at that moment: a connection closed
    // since the snapshot is skipped (not resurrected), and a bind in flight lands before it (not rolled back).
    const restored = await this.forEachBatch((batch) => this.directory.register(this.nodeId, batch.map(recordOf)));
    this.withdrawn = false;
    this.metrics.engineResyncs++;
    this.logger.log(`restored ${restored} connection(s) in the index (${reason})`);
  }

  /**
   * Runs `write` over this node's connections in batches of `BATCH`, each batch in the write turn of all of its
   * connections, with only those still held when the turn comes.
   */
  private async forEachBatch(
    write: (batch: LocalConnection[]) => Promise<void>,
    which: (conn: LocalConnection) => boolean = () => true,
  ): Promise<number> {
    const conns = [...this.registry.connections()].filter(which);
    let written = 0;
    for (let i = 0; i < conns.length; i += BATCH) {
      const batch = conns.slice(i, i + BATCH);
      await serialWriteAll(batch, async () => {
        const live = batch.filter((conn) => this.local.holds(conn));
        written += live.length;
        if (live.length) await write(live);
      });
    }
    return written;
  }

  // ---- resume and recovery -------------------------------------------------------------------------------------
  // A dropped resumable connection stays in the index, marked dropped (sends count it held), until its window ends;
  // `HandOver` finds it when a resume token comes back.

  override get resumable(): boolean {
    return this.history !== null;
  }

  override get handsOverOnShutdown(): boolean {
    return this.history !== null && typeof this.directory.markGone === 'function';
  }

  override async detach(conn: LocalConnection): Promise<void> {
    const until = conn.resume?.detachedUntil ?? 0;
    if (!this.history || until === 0) return;
    await this.markInIndex(conn, (bindings) =>
      this.directory.setDetached!(this.nodeId, bindings, until, this.liveness.currentGeneration),
    );
  }

  override async adopt(clientId: string, presented: Buffer): Promise<AdoptResult> {
    if (!this.handOver) return { status: 'not_found' };
    return this.handOver.adopt(clientId, presented);
  }

  override async reattach(conn: LocalConnection): Promise<void> {
    const resume = conn.resume;
    if (!this.history || !resume) return;
    // The resume itself is done (its welcome written, its secret changed): an index write that fails is left to the
    // resync, which writes the connection whole from what this node holds. In the connection's write turn, after a
    // drop that came meanwhile (then it stays dropped, with its new secret).
    await this.markInIndex(conn, async (bindings) => {
      const attached = resume.detachedUntil !== 0 || (await this.directory.setDetached!(this.nodeId, bindings, 0, ''));
      return attached && (await this.directory.setSecret!(this.nodeId, bindings, resume.secretHash));
    }).catch((error: unknown) => this.indexWriteFailed('reattach', error));
  }

  override async release(record: AdoptedRecord): Promise<void> {
    await this.handOver?.release(record);
  }

  override async forgo(record: AdoptedRecord): Promise<void> {
    this.handOver?.forgo(record);
  }

  override async readHistory(reads: HistoryRead[]): Promise<HistoryReadResult[]> {
    if (!this.history) return super.readHistory(reads);
    // After a reconnect, whether the backend lost its data (and these connections their histories) is known first.
    return this.run(async () => {
      await this.liveness.ensureGeneration();
      return this.history!.read(reads);
    });
  }

  /** Runs a write to a resumable connection's index entries in its write turn; a missing entry schedules a resync. */
  private async markInIndex(
    conn: LocalConnection,
    write: (bindings: ConnectionBindings) => Promise<boolean>,
  ): Promise<void> {
    await serialWrite(conn, async () => {
      if (!this.local.holds(conn)) return;
      await this.indexWrite(() => write({ clientId: conn.id, uid: conn.uid, groups: [...conn.groups] }));
    });
  }

  /** The backend lost data: no resumable connection of this node may be told its gap was recovered. */
  private historyLostForAll(): void {
    for (const conn of this.registry.connections()) if (conn.resume) conn.resume.historyLost = true;
  }

  // ---- plumbing ------------------------------------------------------------------------------------------------

  /** Runs a backend call; any failure becomes a typed 503. */
  protected async run<T>(call: () => Promise<T>, deliveredLocally?: number): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if (!(error instanceof PushEngineUnavailableError)) this.failed(error);
      throw this.unavailable(error, deliveredLocally);
    }
  }

  /**
   * A push that went out locally and to the other nodes at once: the local part never waits for the backend, and
   * the count is what this node delivered plus the members the index knows elsewhere (`remote` counts the whole
   * cluster, this node's members included).
   */
  private async fanout(local: LocalDelivery, remote: () => Promise<number>): Promise<SendResult> {
    let total: number;
    try {
      total = await remote();
    } catch (error) {
      this.failed(error);
      throw this.unavailable(error, (await local.count).delivered);
    }
    const here = await local.count;
    return { delivered: here.delivered + Math.max(0, total - local.members), held: here.held };
  }

  /**
   * A push published to several targets at once (uids, or nodes), each on its own shard on a cluster: a target whose
   * backend failed does not hide the ones that published. The count is what this node delivered plus, per target
   * that answered, the members the index knows elsewhere (`here`: this node's own members of it); when one failed,
   * the 503 carries that count as `delivered`, so a caller that sends again knows what already went out.
   */
  private async fanoutEach(
    local: LocalDelivery,
    targets: { count: Promise<number>; here: number }[],
  ): Promise<SendResult> {
    const results = await Promise.allSettled(targets.map((target) => target.count));
    let elsewhere = 0;
    let failure: unknown;
    results.forEach((result, i) => {
      if (result.status === 'fulfilled') elsewhere += Math.max(0, result.value - targets[i].here);
      else failure ??= result.reason;
    });
    const here = await local.count;
    const delivered = here.delivered + elsewhere;
    if (failure === undefined) return { delivered, held: here.held };
    this.failed(failure);
    throw this.unavailable(failure, delivered, elsewhere > 0);
  }

  private async indexWrite(call: () => Promise<boolean>): Promise<void> {
    let written: boolean;
    try {
      written = await this.run(call);
    } catch (error) {
      // Part of the write may have landed (a connection's own entry, but not its membership on another shard):
      // the resync writes the connection whole again.
      this.resync.owe();
      throw error;
    }
    // false: the index does not know this connection (the backend lost its data): the resync writes it whole.
    if (!written) this.resync.schedule('a connection was missing from the index');
  }

  private indexWriteFailed(what: string, error: unknown): void {
    this.failed(error);
    this.resync.owe();
    this.logger.warn(`${what} not written to the index, will resync: ${(error as Error).message}`);
  }

  /** A failure as the typed 503 callers get, with what this node delivered meanwhile. */
  private unavailable(error: unknown, deliveredLocally?: number, partly = false): PushEngineUnavailableError {
    if (error instanceof PushEngineUnavailableError) return error;
    const where = partly ? 'on this node and behind the targets that were published' : 'on this node';
    const local = deliveredLocally === undefined ? '' : ` (${deliveredLocally} delivered ${where})`;
    return new PushEngineUnavailableError(`${this.backendName} is unavailable: ${(error as Error).message}${local}`, {
      cause: error,
      delivered: deliveredLocally,
    });
  }

  /** Counts a failed backend call (and a timed-out one as a request timeout too). */
  protected failed(error: unknown): void {
    this.metrics.engineErrors++;
    if (this.isTimeout(error)) this.metrics.requestTimeouts++;
  }
}

const EMPTY = Buffer.alloc(0);

function recordOf(conn: LocalConnection): ConnectionRecord {
  const record: ConnectionRecord = {
    clientId: conn.id,
    uid: conn.uid,
    groups: [...conn.groups],
    session: JSON.stringify(conn.session),
  };
  const resume = conn.resume;
  if (resume) {
    record.resumable = {
      secretHash: resume.secretHash,
      since: [...resume.since].map(([key, offset]) => [key, offset && formatOffset(offset)] as const),
      historyLost: resume.historyLost,
      detachedUntil: resume.detachedUntil,
    };
  }
  return record;
}

function targetsOf(conn: LocalConnection): TargetRef[] {
  return connectionTargets(conn);
}



import { PushEngineUnavailableError } from '../../errors/push.errors';
import { formatOffset, parseOffset } from '../../history/history-offset';
import { nodeIdOf } from '../../identity/client-id';
import { serialWrite } from '../../local/connection-writes';
import { resuming, type LocalConnection } from '../../local/local-connection';
import { sameSecretHash } from '../../resume/resume-token';
import type { LocalNode } from '../local-node';
import type { AdoptedRecord, AdoptResult } from '../push.engine';
import type { ClusterDirectory, ConnectionBindings } from './cluster-directory';
import type { AdoptReply, HolderCall } from './cluster-message';

/** What a hand-over needs from its engine: backend calls, calls to a holder, and index writes. */
export interface HandOverCalls {
  /** Runs a backend call; any failure becomes the typed 503. */
  run<T>(call: () => Promise<T>): Promise<T>;
  /** Asks the node that holds `clientId` to run `call` on it, and waits for its answer. */
  onHolder(clientId: string, call: HolderCall): Promise<unknown>;
  /** Writes to a connection's index entries in its write turn (a missing entry schedules a resync). */
  markInIndex(conn: LocalConnection, write: (bindings: ConnectionBindings) => Promise<boolean>): Promise<void>;
  /** A write that failed and that nobody awaits: counted, logged, and left to the resync. */
  indexWriteFailed(what: string, error: unknown): void;
  /** Counts a failed backend call. */
  failed(error: unknown): void;
  /** The backend's data generation now (it changes when the backend lost its data). */
  generation(): string;
  /** Reads the generation again if the backend reconnected since (see `Liveness.ensureGeneration`). */
  ensureGeneration(): Promise<void>;
}

/**
 * Where a resume token leads, across nodes. The node that holds a dropped resumable connection keeps it in memory
 * until its window ends and resumes it there with its client_id. Another node takes it over through an `adopt` call
 * to the holder (the holder alone writes its record), or, when the holder is gone (a restart, a crash), from the
 * index itself, where the reaper keeps such records adoptable until their windows end; either way it gets a new
 * client_id there.
 *
 * A hand-over is an offer that lapses: the holder reserves the connection for the taker for `offerWindow`, the taker
 * registers its own copy and then releases the original. A lost reply or a failed taker never loses a connection: the
 * offer lapses and the client tries again with the same token; a second resume meanwhile is told to try again.
 */
export class HandOver {
  /**
   * The connections this node is taking over from others (old client_id → until when its offer stands): one resume at
   * a time per connection here, so that an offer to this node may be taken again once its earlier try is over.
   */
  private readonly taking = new Map<string, number>();

  constructor(
    private readonly nodeId: string,
    private readonly local: LocalNode,
    private readonly directory: ClusterDirectory,
    /** How long a call waits for another node, in ms (an offer lasts two of those). */
    private readonly requestTimeout: number,
    private readonly calls: HandOverCalls,
  ) {}

  /** Finds the connection a resume token names: here, on its live holder, or in the index (holder gone). */
  async adopt(clientId: string, presented: Buffer): Promise<AdoptResult> {
    const node = nodeIdOf(clientId);
    if (node === this.nodeId) return this.adoptHere(clientId, presented);
    const now = Date.now();
    if ((this.taking.get(clientId) ?? 0) > now) throw this.busy(clientId);
    this.forgetLapsed(now);
    this.taking.set(clientId, now + this.offerWindow);
    try {
      const result = await this.adoptFrom(node, clientId, presented);
      if (result.status !== 'moved') this.taking.delete(clientId);
      return result;
    } catch (error) {
      this.taking.delete(clientId);
      throw error;
    }
  }

  /** Takes a connection another node holds (it offers it) or left behind (the index offers it). */
  private async adoptFrom(node: string, clientId: string, presented: Buffer): Promise<AdoptResult> {
    if (await this.calls.run(() => this.directory.isAlive(node))) {
      const call: HolderCall = { fn: 'adopt', hash: presented.toString('hex') };
      const reply = (await this.calls.onHolder(clientId, call)) as AdoptReply | false | null;
      if (reply && typeof reply === 'object') {
        if (reply.status === 'busy') throw this.busy(clientId);
        if (reply.status !== 'ok') return { status: reply.status };
        const since = new Map(reply.since.map(([key, offset]) => [key, offset === null ? null : parseOffset(offset)] as const));
        const { uid, groups, session, historyLost } = reply;
        return { status: 'moved', record: { clientId, uid, groups, session, since, historyLost } };
      }
    }
    const taken = await this.calls.run(async () => {
      await this.calls.ensureGeneration();
      return this.directory.adopt!(node, clientId, presented.toString('hex'), this.nodeId, this.offerWindow);
    });
    if (taken.status === 'busy') throw this.busy(clientId);
    if (taken.status !== 'ok') return { status: taken.status };
    // A server restarted since it dropped: the histories it missed messages in may be gone.
    const restarted = taken.generation !== '' && taken.generation !== this.calls.generation();
    return { status: 'moved', record: { ...taken.record, historyLost: taken.record.historyLost || restarted } };
  }

  /** Removes the original of a connection this node took over: through its live holder, or from the index. */
  async release(record: AdoptedRecord): Promise<void> {
    this.taking.delete(record.clientId);
    const node = nodeIdOf(record.clientId);
    const bindings = { clientId: record.clientId, uid: record.uid, groups: record.groups };
    if (node !== this.nodeId && (await this.calls.run(() => this.directory.isAlive(node)))) {
      const released = await this.calls.onHolder(record.clientId, { fn: 'release' }).catch(() => false);
      if (released === true) return;
    }
    await this.calls.run(() => this.directory.unregister(node, [bindings]));
  }

  /** A take-over this node gives up (see `PushEngine.forgo`): the offer stands until it lapses, for this node only. */
  forgo(record: AdoptedRecord): void {
    this.taking.delete(record.clientId);
  }

  /**
   * The holder's side of another node's `adopt` call: offers the connection to node `by` (its bindings and where it
   * joined its histories) for `offerWindow`, during which no other resume may take it (they are told to try again).
   * Its socket, if the server had not noticed it died, is replaced (4001) and the connection stays dropped meanwhile.
   */
  async offer(clientId: string, hash: string, by: string): Promise<AdoptReply> {
    // Whether its histories were lost with the backend's data is known before it leaves with its flag (and from here
    // on nothing awaits: two offers cannot interleave).
    await this.calls.ensureGeneration();
    const conn = this.local.get(clientId);
    const resume = conn?.resume;
    if (!conn || !resume) return { status: 'not_found' };
    if (!sameSecretHash(Buffer.from(hash, 'hex'), resume.secretHash)) return { status: 'refused' };
    // Offered to the same node again: its earlier try failed (a lost answer); it takes one connection at a time.
    if (resume.pending !== null || (resuming(resume) && resume.movedTo !== by)) return { status: 'busy' };
    const offeredTo = by || 'elsewhere';
    resume.movedTo = offeredTo;
    resume.offerUntil = Date.now() + this.offerWindow;
    if (!this.local.registry.isDetached(conn)) this.local.registry.close(conn, 4001, 'replaced');
    // Written in the connection's write turn, before the release that follows it; the answer does not wait for it (a
    // stopping node writes thousands of drops at once, and a late answer is a resume told to try again).
    void this.calls
      .markInIndex(conn, (bindings) => this.directory.setMoved!(this.nodeId, bindings, offeredTo, resume.offerUntil))
      .catch((error: unknown) => this.calls.indexWriteFailed('hand over', error));
    return {
      status: 'ok',
      uid: conn.uid,
      groups: [...conn.groups],
      session: structuredClone(conn.session),
      since: [...resume.since].map(([key, offset]) => [key, offset && formatOffset(offset)] as [string, string | null]),
      historyLost: resume.historyLost,
    };
  }

  /**
   * The holder's side of a `release` call: removes a connection this node offered to node `by`, which registered its
   * own copy, here and from the index, without a close event. False when it was not offered to `by` (not at all, or
   * since to another), or when the index could not be written (this node may be shutting down): the node it moved to
   * then removes it itself.
   */
  async releaseOffered(clientId: string, by: string): Promise<boolean> {
    const conn = this.local.get(clientId);
    if (!conn?.resume?.movedTo || conn.resume.movedTo !== by) return false;
    const info = this.local.remove(conn); // its window's timer goes with it
    try {
      await serialWrite(conn, () => this.directory.unregister(this.nodeId, [info]));
      return true;
    } catch (error) {
      this.calls.failed(error);
      return false;
    }
  }

  /**
   * A resume of a connection this node holds: it keeps its client_id (and its secret until its welcome is written).
   */
  private adoptHere(clientId: string, presented: Buffer): AdoptResult {
    const conn = this.local.get(clientId);
    const resume = conn?.resume;
    if (!conn || !resume) return { status: 'not_found' };
    if (!sameSecretHash(presented, resume.secretHash)) return { status: 'refused' };
    if (resuming(resume)) throw this.busy(clientId);
    resume.movedTo = null; // an offer that lapsed: the connection is back here
    return { status: 'local', conn };
  }

  /** Forgets take-overs whose offers lapsed (a resume that stopped between its adopt and its release). */
  private forgetLapsed(now: number): void {
    if (this.taking.size < 1024) return;
    for (const [id, until] of this.taking) if (until <= now) this.taking.delete(id);
  }

  /**
   * How long a connection offered to a resume on another node stays reserved for it: that node registers its copy and
   * releases this one within a few round trips; if it does not (a lost reply, a failure), the offer lapses then.
   */
  private get offerWindow(): number {
    return 2 * this.requestTimeout;
  }

  /** The answer to a resume while another resume of the same connection is under way: the client tries again. */
  private busy(clientId: string): PushEngineUnavailableError {
    return new PushEngineUnavailableError(`connection ${clientId} is being resumed elsewhere: try again`);
  }
}

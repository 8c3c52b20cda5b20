import { WebSocket } from 'ws';
import { PushLimitExceededError } from '../errors/push.errors';
import type { ClientInfo } from '../interfaces/client-info.interface';
import type { EncodedMessage, EnvelopeEntry } from '../message/encoded-message';
import type { PushMetrics } from '../push-metrics.service';
import { resumableForm } from '../resume/push-protocol';
import type { HistoryOffset } from '../history/history-offset';
import { joinedAt, type LocalConnection, type ResumeState, type ServerCloseReason } from './local-connection';
import { controlFrameSize, SocketWriter, type SocketWriteMode } from './socket-writer';

/** Settings the registry needs to protect the process. */
export interface LocalRegistryLimits {
  /** Bytes that may wait in one socket's send queue before it is dropped as a slow consumer. */
  maxBufferedBytes: number;
  /** Frames written per event-loop turn before a fan-out yields (default 1024). */
  fanoutChunk?: number;
  /** Frame writes that may wait in the fan-out queue (recipients × messages); default no limit. */
  maxFanoutQueue?: number;
  /** Groups one connection may be in; default no limit. */
  maxGroupsPerConnection?: number;
  /** Largest session, in UTF-8 bytes of its JSON; default no limit. */
  maxSessionBytes?: number;
}

/**
 * A uid or a group gaining its first member on this node (`present` true) or losing its last one (false). A cluster
 * engine follows these to subscribe to exactly the channels this node needs.
 */
export type MembershipListener = (kind: 'uid' | 'group', name: string, present: boolean) => void;

/** Who a delivery goes to: any collection of connections; a Set or Map is recognised again when reused. */
export type Audience = Iterable<LocalConnection> | ReadonlyMap<string, LocalConnection>;

/** What one delivery did: frames written to sockets, and messages held in history for dropped resumable connections. */
export interface DeliveryCount {
  /** Written to a socket (or queued behind a resume's replay, which writes it next). */
  delivered: number;
  /** Not written, but in the history of a target of a dropped connection that may still resume (it gets it then). */
  held: number;
  /**
   * Resumable connections skipped by a delivery to plain ones only: they get the message from the ordered stream that
   * carries its history offset (a cluster engine's sender).
   */
  deferred: number;
}

/** Where a frame of a history stands for one connection (see `inSequence`). */
const enum Sequence {
  Next,
  Duplicate,
  Gap,
}

/** How one write ended (see `writeNow`). */
const enum Written {
  No = 0,
  Yes = 1,
  Held = 2,
  Deferred = 3,
}

/** Frames a resuming connection may collect while its replay is read; past it the resume is cut (1013). */
export const MAX_PENDING_RESUME_FRAMES = 10_000;

interface DeliveryJob {
  source: Audience;
  version: number;
  targets: LocalConnection[];
  index: number;
  messages: EncodedMessage[];
  exclude: ReadonlySet<string> | null;
  counts: DeliveryCount[];
  waiters: ((count: DeliveryCount) => void)[];
  /** When each message's delivery started (`performance.now()`), only while deliveries are timed. */
  started?: number[];
  /** Instead of a delivery: something to run in order with the deliveries (a close after pushes). */
  task?: () => void;
}

const EMPTY_JOB: Omit<DeliveryJob, 'task'> = {
  source: [],
  version: -1,
  targets: [],
  index: 0,
  messages: [],
  exclude: null,
  counts: [],
  waiters: [],
};

const DEFAULT_FANOUT_CHUNK = 1024;

function sizeOf(targets: Audience): number | undefined {
  if (targets instanceof Set || targets instanceof Map) return targets.size;
  if (Array.isArray(targets)) return targets.length;
  return undefined;
}

/** How long a closing socket may take to finish its close handshake before it is cut. */
const CLOSE_GRACE_MS = 2000;

/**
 * This process's sockets and their bindings: client_id → connection, uid → connections, group → connections.
 * Every engine keeps one (a push-only node's stays empty); the memory engine answers everything from it, and a
 * cluster engine uses it for the deliveries that land on this node.
 */
export class LocalRegistry {
  private readonly byId = new Map<string, LocalConnection>();
  private readonly byUid = new Map<string, Set<LocalConnection>>();
  private readonly byGroup = new Map<string, Set<LocalConnection>>();
  /** Bumped on every membership change, so a queued audience snapshot is only reused while still exact. */
  private version = 0;
  private readonly queue: DeliveryJob[] = [];
  /** Puts frames on the wire: the only code that touches ws internals (checked when it is built). */
  private readonly writer: SocketWriter;
  private readonly chunk: number;
  /** Frame writes waiting in `queue` (what `maxFanoutQueue` bounds). */
  private queued = 0;
  private readonly maxQueued: number;
  private membership: MembershipListener | null = null;
  /** Connections on the resumable protocol (attached or dropped): when none, engines keep no history. */
  private resumable = 0;
  /** Dropped resumable connections kept for a resume, in all and per client address (what the gateway bounds). */
  private detached = 0;
  private readonly detachedByAddress = new Map<string, number>();

  constructor(
    private readonly limits: LocalRegistryLimits,
    private readonly metrics: PushMetrics,
  ) {
    this.chunk = limits.fanoutChunk ?? DEFAULT_FANOUT_CHUNK;
    this.maxQueued = limits.maxFanoutQueue ?? Infinity;
    this.writer = new SocketWriter({ maxBufferedBytes: limits.maxBufferedBytes });
    metrics.attach(this);
  }

  /** How frames are written: `fast` (framed once, one syscall per socket per turn) or `public-api` (ws fallback). */
  get writeMode(): SocketWriteMode {
    return this.writer.mode;
  }

  /** Every connection held, keyed by client_id (a live view, for fan-outs to everyone). */
  get all(): ReadonlyMap<string, LocalConnection> {
    return this.byId;
  }

  /** Number of connections held. */
  get size(): number {
    return this.byId.size;
  }

  /** Number of distinct uids bound on this node. */
  get uidCount(): number {
    return this.byUid.size;
  }

  /** Number of groups with members on this node. */
  get groupCount(): number {
    return this.byGroup.size;
  }

  /** Connections on the resumable protocol, attached or dropped and resumable. */
  get resumableCount(): number {
    return this.resumable;
  }

  /** Dropped resumable connections kept for a resume. */
  get detachedCount(): number {
    return this.detached;
  }

  /** Dropped resumable connections kept for a resume that connected from `address`. */
  detachedFrom(address: string | undefined): number {
    return this.detachedByAddress.get(address ?? '') ?? 0;
  }

  /**
   * Sets the one listener told when a uid or group gains its first member or loses its last one on this node
   * (null to stop). It runs synchronously inside the change, so it sees every transition in order.
   */
  onMembership(listener: MembershipListener | null): void {
    this.membership = listener;
  }

  /** Adds a freshly accepted connection. */
  add(conn: LocalConnection): void {
    this.version++;
    this.byId.set(conn.id, conn);
    if (conn.resume) this.resumable++;
  }

  /** Removes a connection and every binding it had, and returns what it had. Idempotent. */
  remove(conn: LocalConnection): ClientInfo {
    const info = this.describe(conn);
    if (this.holds(conn)) {
      this.setUid(conn, null);
      for (const group of [...conn.groups]) this.leave(conn, group);
      this.version++;
      this.byId.delete(conn.id);
      if (conn.resume) {
        this.resumable--;
        if (conn.resume.detachedUntil !== 0) this.countDetached(conn, -1);
        if (conn.resume.expiry) clearTimeout(conn.resume.expiry);
        conn.resume.expiry = null;
      }
    }
    return info;
  }

  /**
   * Marks a resumable connection whose socket dropped as detached until `until` (ms): it keeps its bindings, and
   * pushes to it are held in history instead of written. `end` ends it for good: when the window passes without a
   * resume (`resume-expired`), or when the app closes it meanwhile (see `endDetached`).
   */
  detach(conn: LocalConnection, until: number, end: (reason: ServerCloseReason) => void): void {
    const resume = conn.resume;
    if (!resume || !this.holds(conn)) return;
    if (resume.detachedUntil === 0) this.countDetached(conn, 1);
    resume.detachedUntil = until;
    resume.pending = null;
    resume.end = end;
    if (resume.expiry) clearTimeout(resume.expiry);
    resume.expiry = setTimeout(() => this.endDetached(conn, 'resume-expired'), Math.max(0, until - Date.now()));
    resume.expiry.unref();
  }

  /**
   * Stops the window of a detached connection without ending it: at shutdown, when its record outlives this process
   * (another node adopts it, or the reaper removes it when its window ends), so nothing fires after the engine closed.
   */
  stopWindow(conn: LocalConnection): void {
    const resume = conn.resume;
    if (!resume || resume.detachedUntil === 0) return;
    if (resume.expiry) clearTimeout(resume.expiry);
    resume.expiry = null;
    resume.end = null;
  }

  private countDetached(conn: LocalConnection, delta: 1 | -1): void {
    this.detached += delta;
    const address = conn.remoteAddress ?? '';
    const left = (this.detachedByAddress.get(address) ?? 0) + delta;
    if (left > 0) this.detachedByAddress.set(address, left);
    else this.detachedByAddress.delete(address);
  }

  /** Whether the connection is dropped and waiting to be resumed. */
  isDetached(conn: LocalConnection): boolean {
    return conn.resume !== null && conn.resume.detachedUntil !== 0;
  }

  /** Ends a detached connection for good (its `end` runs once); false when it is not detached. */
  endDetached(conn: LocalConnection, reason: ServerCloseReason): boolean {
    const resume = conn.resume;
    if (!resume || resume.detachedUntil === 0 || !resume.end) return false;
    const end = resume.end;
    resume.end = null;
    if (resume.expiry) clearTimeout(resume.expiry);
    resume.expiry = null;
    end(reason);
    return true;
  }

  /**
   * Gives a held resumable connection a new socket (a resume on this node keeps its client_id): pushes from now on
   * collect in its `pending` frames until `release` writes them after the replay. The old socket, if still open, is
   * cut by the caller first.
   */
  reattach(conn: LocalConnection, socket: WebSocket): void {
    const resume = conn.resume!;
    if (resume.expiry) clearTimeout(resume.expiry);
    resume.expiry = null;
    resume.end = null;
    if (resume.detachedUntil !== 0 && this.holds(conn)) this.countDetached(conn, -1);
    resume.detachedUntil = 0;
    resume.pending = [];
    resume.sent = null;
    conn.socket = socket;
    conn.wire = undefined;
    conn.closedBy = null;
    conn.lastSeen = conn.lastPing = Date.now();
  }

  /**
   * Ends a resumable connection's wait for its welcome (a fresh one's, or a resume's after its replay): runs `replay`
   * (which writes the welcome, and a resume's missed messages) in order with every delivery already queued, then the
   * frames that arrived meanwhile, and from then on writes to the socket directly. `replayed` is how far the replay
   * covered each history (history key → last offset): a frame at or before it is a duplicate and is dropped, whether
   * it was collected meanwhile or arrives later (a live copy can trail the history read); one past the next is a gap
   * (see `ResumeState.sent`). Resolves to false, without running `replay`, when the connection no longer waits on
   * `socket` (it closed, or another resume took it over meanwhile).
   */
  release(
    conn: LocalConnection,
    socket: WebSocket,
    replay: () => void,
    replayed: ReadonlyMap<string, HistoryOffset>,
  ): Promise<boolean> {
    return new Promise((done) =>
      this.inOrder(() => {
        const resume = conn.resume;
        if (!resume || resume.pending === null || conn.socket !== socket || !this.holds(conn)) return done(false);
        const pending = resume.pending;
        resume.pending = null;
        resume.sent = replayed.size ? new Map(replayed) : null; // created on first use otherwise (memory per socket)
        replay();
        done(true);
        for (const frame of pending) {
          const step = this.inSequence(resume, frame.entry);
          if (step === Sequence.Gap) return this.cutForGap(conn);
          if (step === Sequence.Next) this.writeFrame(conn, frame); // envelopes already
        }
        this.writer.flush();
      }),
    );
  }

  /**
   * Where a frame of a history stands against what the connection was sent of it (or where it joined it, `since`):
   * the next one, a duplicate, or past a gap. Records it when it is the next one. A frame with no entry is always next.
   */
  private inSequence(resume: ResumeState, entry: EnvelopeEntry | null): Sequence {
    if (entry === null) return Sequence.Next;
    const sent = (resume.sent ??= new Map());
    const last = sent.has(entry.key) ? sent.get(entry.key) : joinedAt(resume, entry.key);
    const { epoch, n } = entry.offset;
    // Unknown (a target it was never said to join): nothing to compare with. Null: the target had no history when it
    // joined, so its history started later, at 1. Another epoch: the history started again, at 1.
    if (last !== undefined) {
      const expected = last === null || last.epoch !== epoch ? 1 : last.n + 1;
      if (n < expected) return Sequence.Duplicate;
      if (n > expected) return Sequence.Gap;
    }
    sent.set(entry.key, entry.offset);
    return Sequence.Next;
  }

  /** A frame the connection is not written (excluded, or reached through another group): it moves on all the same. */
  private pass(conn: LocalConnection, message: EncodedMessage): void {
    const resume = conn.resume;
    if (resume === null || resume.detachedUntil !== 0 || resume.pending !== null) return;
    const entry = message.envelope?.entry;
    if (entry) (resume.sent ??= new Map()).set(entry.key, entry.offset);
  }

  /**
   * Marks frames a connection does not receive from its history (a send to several groups that reaches it through an
   * earlier one) as passed, so that the next frame of that history is not taken for a gap.
   */
  passOver(conns: Iterable<LocalConnection>, message: EncodedMessage): void {
    for (const conn of conns) this.pass(conn, message);
  }

  /** The connection missed messages of a history (this node did not hear them): it resumes, and its replay has them. */
  private cutForGap(conn: LocalConnection): void {
    this.metrics.resumes.gaps++;
    this.close(conn, 1013, 'history-gap');
  }

  /**
   * Whether this exact connection is still registered. A bind or join that awaited its backend may find the
   * connection closed in the meantime: it must then leave no binding behind (see `setUid` and `join`).
   */
  holds(conn: LocalConnection): boolean {
    return this.byId.get(conn.id) === conn;
  }

  /** The connection with this client_id, if this node holds it. */
  get(clientId: string): LocalConnection | undefined {
    return this.byId.get(clientId);
  }

  /** Every connection held. */
  connections(): IterableIterator<LocalConnection> {
    return this.byId.values();
  }

  /**
   * Binds `uid` (or unbinds with null), replacing any previous uid. Returns the previous one. Binding a connection
   * that is no longer registered does nothing: a closed connection must not come back into the index.
   */
  setUid(conn: LocalConnection, uid: string | null): string | null {
    const previous = conn.uid;
    if (previous === uid || (uid !== null && !this.holds(conn))) return previous;
    this.version++;
    if (previous !== null && removeFromIndex(this.byUid, previous, conn)) this.membership?.('uid', previous, false);
    conn.uid = uid;
    if (uid !== null && addToIndex(this.byUid, uid, conn)) this.membership?.('uid', uid, true);
    return previous;
  }

  /**
   * Adds the connection to a group. Returns false if it was already a member, or is no longer registered.
   * Call `checkJoin` first: this does not enforce `maxGroupsPerConnection`, so that a write-back never fails.
   */
  join(conn: LocalConnection, group: string): boolean {
    if (conn.groups.has(group) || !this.holds(conn)) return false;
    this.version++;
    conn.groups.add(group);
    if (addToIndex(this.byGroup, group, conn)) this.membership?.('group', group, true);
    return true;
  }

  /**
   * Throws `PushLimitExceededError` (409) when joining `group` would pass `maxGroupsPerConnection`, and counts it.
   * Every engine calls it on the holder before it writes anything.
   */
  checkJoin(conn: LocalConnection, group: string): void {
    const max = this.limits.maxGroupsPerConnection ?? Infinity;
    if (conn.groups.size < max || conn.groups.has(group)) return;
    this.metrics.limitRefusals.groups++;
    throw new PushLimitExceededError('too_many_groups', `a connection may be in at most ${max} groups`, max);
  }

  /**
   * Throws `PushLimitExceededError` (413) when a session, given as its JSON, passes `maxSessionBytes`, and counts
   * it.
   */
  checkSession(json: string): void {
    const max = this.limits.maxSessionBytes ?? Infinity;
    // A JSON string's UTF-8 size is at most 3 bytes per UTF-16 unit: skip the exact count when that surely fits.
    if (json.length * 3 <= max || Buffer.byteLength(json) <= max) return;
    this.metrics.limitRefusals.session++;
    throw new PushLimitExceededError('session_too_large', `a session may be at most ${max} bytes of JSON`, max);
  }

  /** Removes the connection from a group. Returns false if it was not a member. */
  leave(conn: LocalConnection, group: string): boolean {
    if (!conn.groups.delete(group)) return false;
    this.version++;
    if (removeFromIndex(this.byGroup, group, conn)) this.membership?.('group', group, false);
    return true;
  }

  /** Dissolves a group on this node; returns the connections that were in it. */
  dropGroup(group: string): LocalConnection[] {
    const members = this.byGroup.get(group);
    if (!members) return [];
    this.version++;
    this.byGroup.delete(group);
    for (const conn of members) conn.groups.delete(group);
    this.membership?.('group', group, false);
    return [...members];
  }

  /** Connections bound to `uid` on this node (a live view: copy before mutating bindings). */
  connectionsOfUid(uid: string): ReadonlySet<LocalConnection> | undefined {
    return this.byUid.get(uid);
  }

  /** Connections in `group` on this node (a live view). */
  connectionsOfGroup(group: string): ReadonlySet<LocalConnection> | undefined {
    return this.byGroup.get(group);
  }

  /** Uids bound on this node. */
  uids(): IterableIterator<string> {
    return this.byUid.keys();
  }

  /** Groups with members on this node. */
  groups(): IterableIterator<string> {
    return this.byGroup.keys();
  }

  /** A detached snapshot of one connection. */
  describe(conn: LocalConnection): ClientInfo {
    return { clientId: conn.id, uid: conn.uid, groups: [...conn.groups], session: structuredClone(conn.session) };
  }

  /**
   * Writes a frame of the gateway's own to one socket now, as it is, ahead of any fan-out still in flight: for frames
   * whose order against pushes does not matter (the init frame of a new connection, error replies, heartbeats), and
   * which are control frames on the resumable protocol. Returns true when queued.
   */
  write(conn: LocalConnection, message: EncodedMessage): boolean {
    return this.writeFrame(conn, message);
  }

  /** Runs `task` once every delivery queued before it is written (now, when none is). */
  inOrder(task: () => void): void {
    if (this.queue.length === 0) task();
    else this.queue.push({ ...EMPTY_JOB, task });
  }

  /**
   * Writes `message` to each connection once, skipping client_ids in `exclude`, in order with every other
   * delivery. Small fan-outs complete synchronously (a number); one larger than `fanoutChunk` is split over
   * event-loop turns so no broadcast stalls heartbeats and HTTP, and resolves when done (a Promise).
   */
  deliver(
    targets: Audience,
    message: EncodedMessage,
    exclude?: ReadonlySet<string> | null,
  ): DeliveryCount | Promise<DeliveryCount> {
    const size = sizeOf(targets);
    if (this.queue.length === 0 && size !== undefined && size <= this.chunk) {
      // The clock is read only while someone observes durations (a Prometheus histogram), and not for nobody.
      const started = this.metrics.timingFanouts && size > 0 ? performance.now() : -1;
      const count: DeliveryCount = { delivered: 0, held: 0, deferred: 0 };
      for (const conn of targets instanceof Map ? targets.values() : (targets as Iterable<LocalConnection>)) {
        if (exclude && exclude.has(conn.id)) {
          this.pass(conn, message);
          continue;
        }
        tally(count, this.writeNow(conn, message));
      }
      if (started >= 0) this.metrics.recordFanout((performance.now() - started) / 1000);
      return count;
    }
    return this.enqueue(targets, message, exclude ?? null);
  }

  /** Everything in the fan-out queue has been written (tests observe the split with it). */
  get idle(): boolean {
    return this.queue.length === 0;
  }

  /** Frame writes waiting in the fan-out queue (bounded by `maxFanoutQueue`). */
  get queuedFrames(): number {
    return this.queued;
  }

  private enqueue(
    targets: Audience,
    message: EncodedMessage,
    exclude: ReadonlySet<string> | null,
  ): Promise<DeliveryCount> {
    const last = this.queue[this.queue.length - 1];
    const merges =
      last !== undefined &&
      last.index === 0 &&
      last.source === targets &&
      last.version === this.version &&
      last.exclude === null &&
      exclude === null;
    const list = merges ? last.targets : targets instanceof Map ? [...targets.values()] : [...(targets as Iterable<LocalConnection>)];
    // Refused up front, before anything is written: a burst that outruns the sockets must not grow memory.
    if (this.queued + list.length > this.maxQueued) {
      this.metrics.limitRefusals.fanoutQueue++;
      throw new PushLimitExceededError(
        'fanout_queue_full',
        `this node's fan-out queue is full (${this.maxQueued} frames waiting): try again later`,
        this.maxQueued,
      );
    }
    this.queued += list.length;
    const started = this.metrics.timingFanouts && list.length > 0 ? performance.now() : -1;
    return new Promise<DeliveryCount>((resolve) => {
      // Back-to-back pushes to the same unchanged audience share one job, so each socket receives them in one
      // write (the burst case: 20 sends to one group leave as one syscall per member, not twenty).
      if (merges) {
        last.messages.push(message);
        last.counts.push({ delivered: 0, held: 0, deferred: 0 });
        last.waiters.push(resolve);
        if (started >= 0) (last.started ??= []).push(started);
        return;
      }
      const wasIdle = this.queue.length === 0;
      this.queue.push({
        source: targets,
        version: this.version,
        targets: list,
        index: 0,
        messages: [message],
        exclude,
        counts: [{ delivered: 0, held: 0, deferred: 0 }],
        waiters: [resolve],
        ...(started >= 0 ? { started: [started] } : {}),
      });
      // First pass at the end of this synchronous run, not now: sends issued back to back in the same run
      // (a burst) then merge into this job before any socket is written.
      if (wasIdle) queueMicrotask(this.pump);
    });
  }

  /** Writes up to `fanoutChunk` frames from the queue, flushes them, and comes back next turn for the rest. */
  private readonly pump = (): void => {
    let budget = this.chunk;
    while (budget > 0 && this.queue.length > 0) {
      const job = this.queue[0];
      if (job.task) {
        this.queue.shift();
        job.task();
        budget--;
        continue;
      }
      const perTarget = job.messages.length;
      const end = Math.min(job.targets.length, job.index + Math.max(1, Math.floor(budget / perTarget)));
      for (let i = job.index; i < end; i++) {
        const conn = job.targets[i];
        if (job.exclude && job.exclude.has(conn.id)) {
          for (const message of job.messages) this.pass(conn, message);
          continue;
        }
        for (let m = 0; m < perTarget; m++) tally(job.counts[m], this.writeNow(conn, job.messages[m]));
      }
      budget -= (end - job.index) * perTarget;
      this.queued -= (end - job.index) * perTarget;
      job.index = end;
      if (job.index >= job.targets.length) {
        this.queue.shift();
        job.waiters.forEach((resolve, m) => resolve(job.counts[m]));
        if (job.started) this.recordDurations(job.started);
      }
    }
    this.writer.flush();
    if (this.queue.length > 0) setImmediate(this.pump);
  };

  /** Reports how long each message of a finished fan-out took, from its `deliver` call to its last frame. */
  private recordDurations(started: number[]): void {
    const now = performance.now();
    for (const at of started) this.metrics.recordFanout((now - at) / 1000);
  }

  /**
   * Sends a protocol ping (the heartbeat) or answers the peer's ping with a pong. Control frames queue like any
   * other write, so the send-queue cap applies to them too: a peer that floods pings and never reads is closed
   * as a slow consumer (1013) instead of growing memory with pongs.
   */
  control(conn: LocalConnection, kind: 'ping' | 'pong', data?: Buffer): boolean {
    const socket = conn.socket;
    if (socket.readyState !== WebSocket.OPEN) return false;
    if (!this.fits(conn, controlFrameSize(data))) return false;
    this.writer.control(conn, kind, data);
    return true;
  }

  /** Whether `bytes` more fit in the socket's send queue; if not, closes it as a slow consumer. */
  private fits(conn: LocalConnection, bytes: number): boolean {
    if (this.writer.fits(conn.socket, bytes)) return true;
    this.metrics.slowConsumerDrops++;
    this.close(conn, 1013, 'slow-consumer');
    return false;
  }

  /**
   * Writes an app's message to one connection: as it is to a plain connection, in its envelope to a resumable one.
   * A dropped resumable connection is not written: the message is held for it when it is in a history (its envelope
   * carries the entry), and lost for it otherwise. A resuming one collects it until its replay is written.
   */
  private writeNow(conn: LocalConnection, message: EncodedMessage): Written {
    const resume = conn.resume;
    if (resume === null) {
      if (message.audience === 'resumable') return Written.No;
    } else {
      if (message.audience === 'plain') return Written.Deferred;
      const form = resumableForm(message);
      if (resume.detachedUntil !== 0) return form.entry !== null ? Written.Held : Written.No;
      if (resume.pending !== null) return this.collect(conn, resume.pending, form);
      const step = this.inSequence(resume, form.entry);
      if (step === Sequence.Duplicate) return Written.Yes; // it has it already (a replay sent it)
      if (step === Sequence.Gap) {
        this.cutForGap(conn);
        return Written.No;
      }
      message = form;
    }
    return this.writeFrame(conn, message) ? Written.Yes : Written.No;
  }

  private writeFrame(conn: LocalConnection, message: EncodedMessage): boolean {
    if (conn.socket.readyState !== WebSocket.OPEN) return false;
    if (!this.fits(conn, message.byteLength)) return false;
    this.writer.write(conn, message);
    this.metrics.framesDelivered++;
    return true;
  }

  /** Keeps a frame for a resuming connection; one that collects too many is cut (1013) and may resume again. */
  private collect(conn: LocalConnection, pending: EncodedMessage[], frame: EncodedMessage): Written {
    if (pending.length >= MAX_PENDING_RESUME_FRAMES) {
      this.metrics.slowConsumerDrops++;
      this.close(conn, 1013, 'slow-consumer');
      return Written.No;
    }
    pending.push(frame);
    return Written.Yes;
  }

  /**
   * Starts a close handshake (after any queued frame, so a final message is flushed first), and cuts the socket
   * if the peer does not finish it in time. A close asked for by the app waits behind the fan-outs already
   * accepted, so what was pushed before `closeClient` still reaches the client. Returns false if the socket was
   * already closing.
   */
  close(conn: LocalConnection, code: number, reason: ServerCloseReason, finalMessage?: EncodedMessage | null): boolean {
    const socket = conn.socket;
    if (socket.readyState !== WebSocket.OPEN && socket.readyState !== WebSocket.CONNECTING) return false;
    if (reason === 'closed-by-server') {
      this.inOrder(() => void this.closeNow(conn, code, reason, finalMessage));
      return true;
    }
    return this.closeNow(conn, code, reason, finalMessage);
  }

  private closeNow(
    conn: LocalConnection,
    code: number,
    reason: ServerCloseReason,
    finalMessage?: EncodedMessage | null,
  ): boolean {
    const socket = conn.socket;
    if (socket.readyState !== WebSocket.OPEN && socket.readyState !== WebSocket.CONNECTING) return false;
    // The final message goes first; if it trips the send-queue cap, the slow-consumer close (1013) wins.
    if (finalMessage) this.writeNow(conn, finalMessage);
    if (socket.readyState !== WebSocket.OPEN && socket.readyState !== WebSocket.CONNECTING) return true;
    conn.closedBy ??= { reason, code };
    socket.close(code, reason);
    setTimeout(() => socket.terminate(), CLOSE_GRACE_MS).unref();
    return true;
  }

  /** Cuts the socket now, without a close handshake. */
  destroy(conn: LocalConnection, reason: ServerCloseReason = 'destroyed', code = 1006): boolean {
    const socket = conn.socket;
    if (socket.readyState === WebSocket.CLOSED) return false;
    conn.closedBy ??= { reason, code };
    socket.terminate();
    return true;
  }
}

/** Counts one write's outcome. */
function tally(count: DeliveryCount, written: Written): void {
  if (written === Written.Yes) count.delivered++;
  else if (written === Written.Held) count.held++;
  else if (written === Written.Deferred) count.deferred++;
}

/** Adds `conn` under `key`; true when it is the key's first member. */
function addToIndex(index: Map<string, Set<LocalConnection>>, key: string, conn: LocalConnection): boolean {
  const set = index.get(key);
  if (set) {
    set.add(conn);
    return false;
  }
  index.set(key, new Set([conn]));
  return true;
}

/** Removes `conn` from under `key`; true when it was the key's last member. */
function removeFromIndex(index: Map<string, Set<LocalConnection>>, key: string, conn: LocalConnection): boolean {
  const set = index.get(key);
  if (!set || !set.delete(conn) || set.size > 0) return false;
  index.delete(key);
  return true;
}

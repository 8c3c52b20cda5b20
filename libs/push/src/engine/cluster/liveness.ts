import { Logger } from '@nestjs/common';
import type { ClusterDirectory } from './cluster-directory';
import type { ClusterTransport } from './cluster-transport';

/** A node's subscriber is deaf when its own probe has not come back for this many `reapInterval`s. */
export const DEAF_AFTER_INTERVALS = 1.5;

/** Connections per batch when a node reaps a dead node's entries. */
export const REAP_BATCH = 500;

/** What liveness needs from its engine. */
export interface LivenessHooks {
  /** Publishes probe `id` to this node's own route; resolves once the backend accepted it. */
  sendProbe(id: number): Promise<void>;
  /** The listener was found deaf after `silentMs`: withdraw this node from the index and reconnect it. */
  deaf(silentMs: number): void;
  /** The index lacks this node, or an earlier write failed: write it back. */
  resync(reason: string): void;
  /**
   * The backend lost data (this node missing from it, or a server of it restarted): histories may be gone too, so
   * resumable connections must not be told their gaps were recovered. Optional.
   */
  dataLost?(): void;
  /** Whether a resync is owed (an index write failed earlier). */
  readonly resyncOwed: boolean;
  /** Whether the node is withdrawn from the index (deaf, until the resync puts it back). */
  readonly withdrawn: boolean;
  /** Counts a failed backend call. */
  failed(error: unknown): void;
}

/** The timings liveness runs on. */
export interface LivenessOptions {
  /** How long a node stays alive in the index without renewing, in ms. */
  nodeTtl: number;
  /** How often it renews itself, probes its listener and looks for dead nodes, in ms. */
  reapInterval: number;
  /**
   * With resume on: how long a dead node's resumable connections stay adoptable (resume.window, ms); the reaper keeps
   * their records that long.
   */
  resumeWindow?: number;
}

/**
 * Keeps this node alive in the directory and finds what died, every `reapInterval`:
 * - renews this node's liveness entry (absent: the index lost it, so resync);
 * - removes the entries of nodes that stopped renewing (one node does each, under a short lock);
 * - probes its own listener. A half-open connection (a partition: no FIN, no RST) stays silent for hours before
 *   the OS notices, while the backend keeps counting it as a listener; so the node publishes a probe to itself,
 *   and one not heard back within `DEAF_AFTER_INTERVALS × reapInterval` means the listener is deaf. Found within
 *   3 × reapInterval.
 */
export class Liveness {
  private readonly logger = new Logger('PushCluster');
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private probeSeq = 0;
  private probeHeardId = 0;
  /**
   * The oldest probe that the backend accepted and the listener has not heard back yet, with when it was sent. A
   * probe whose publish was not acknowledged never counts against the listener: a slow command connection is not a
   * deaf listener.
   */
  private probePending: { id: number; sent: number } | null = null;
  /** The directory's generation at the last tick (see `ClusterDirectory.generation`). */
  private generation: string | undefined;
  /** The backend reconnected since the generation was last read: its data may be gone (see `ensureGeneration`). */
  private stale = false;
  private checking: Promise<void> | null = null;

  /** The backend's generation as last read ('' when the directory has none): changes when a server restarted. */
  get currentGeneration(): string {
    return this.generation ?? '';
  }

  constructor(
    private readonly nodeId: string,
    private readonly directory: ClusterDirectory,
    private readonly transport: ClusterTransport,
    private readonly hooks: LivenessHooks,
    private readonly options: LivenessOptions,
  ) {}

  /** Registers this node and starts the ticks. */
  async start(): Promise<void> {
    await this.directory.heartbeat(this.nodeId, this.options.nodeTtl);
    this.generation = await this.directory.generation?.();
    this.timer = setInterval(() => void this.tick(), this.options.reapInterval);
    this.timer.unref();
  }

  /** The backend reconnected: a server behind it may have restarted empty. */
  markStale(): void {
    this.stale = true;
  }

  /**
   * Reads the generation again when the backend reconnected since it was last read, and reports a change at once
   * (`dataLost`, then a resync), so that what depends on it (a resume's `recovered`) need not wait for the next round.
   * Rejects when it cannot be read (the backend is away); it is read again next time.
   */
  ensureGeneration(): Promise<void> {
    if (!this.stale) return Promise.resolve();
    this.checking ??= (async () => {
      this.stale = false;
      try {
        if (await this.readGeneration()) {
          this.hooks.dataLost?.();
          this.hooks.resync('a Redis server restarted (its data may be gone)');
        }
      } catch (error) {
        this.stale = true;
        throw error;
      }
    })().finally(() => (this.checking = null));
    return this.checking;
  }

  /** Reads the backend's generation; true when it changed (a server restarted). */
  private async readGeneration(): Promise<boolean> {
    const generation = await this.directory.generation?.();
    const restarted = generation !== undefined && this.generation !== undefined && generation !== this.generation;
    if (generation !== undefined) this.generation = generation;
    return restarted;
  }

  /** Stops the ticks. */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
  }

  /** The listener's state, for health checks. */
  listenerState(): 'up' | 'reconnecting' | 'deaf' | 'resyncing' {
    if (!this.transport.listening) return 'reconnecting';
    if (this.hooks.withdrawn) return 'resyncing';
    return this.overdue(this.probePending) ? 'deaf' : 'up';
  }

  /** This node's probe `id` came back. */
  heard(id: number): void {
    this.probeHeardId = Math.max(this.probeHeardId, id);
    if (this.probePending && this.probeHeardId >= this.probePending.id) this.probePending = null;
  }

  /** One round; public so tests can drive it without waiting for the timer. */
  async tick(): Promise<void> {
    if (this.stopped) return;
    this.probe();
    try {
      const absent = await this.directory.heartbeat(this.nodeId, this.options.nodeTtl);
      this.stale = false;
      const restarted = await this.readGeneration();
      if (absent || restarted) this.hooks.dataLost?.();
      if (absent) this.hooks.resync('this node was missing from the index');
      else if (restarted) this.hooks.resync('a Redis server restarted (its data may be gone)');
      else if (this.hooks.resyncOwed) this.hooks.resync('an index write failed earlier');
      for (const node of await this.directory.deadNodes()) {
        if (node === this.nodeId || this.stopped) continue;
        if (await this.directory.reap(node, this.nodeId, REAP_BATCH, this.options.nodeTtl, this.options.resumeWindow)) {
          this.logger.log(`removed the connections of dead node ${node}`);
        }
      }
    } catch (error) {
      this.hooks.failed(error);
      this.logger.debug?.(`liveness tick failed: ${(error as Error).message}`);
    }
  }

  private overdue(pending: { sent: number } | null): boolean {
    return pending !== null && Date.now() - pending.sent >= DEAF_AFTER_INTERVALS * this.options.reapInterval;
  }

  private probe(): void {
    if (!this.transport.listening || this.hooks.withdrawn) {
      this.probePending = null; // reconnecting: the resync on reconnect takes over
      return;
    }
    const pending = this.probePending;
    if (this.overdue(pending)) {
      // Judged after this turn's I/O: a stalled event loop may have the echo waiting, unread, in the socket.
      setImmediate(() => {
        if (this.probePending !== pending || this.stopped || !pending) return;
        this.probePending = null;
        this.hooks.deaf(Date.now() - pending.sent);
      });
    }
    const id = ++this.probeSeq;
    const sent = Date.now();
    this.hooks.sendProbe(id).then(
      () => {
        // Its echo may have been read before this reply: then it is not pending.
        if (this.probeHeardId < id && this.probePending === null) this.probePending = { id, sent };
      },
      () => undefined, // the backend itself is unreachable: not the listener's fault; the command path reports it
    );
  }
}

import { Injectable } from '@nestjs/common';

/** What this node holds right now; `LocalRegistry` is one. */
export interface PushGaugeSource {
  /** Connections held. */
  readonly size: number;
  /** Distinct uids bound on this node. */
  readonly uidCount: number;
  /** Groups with members on this node. */
  readonly groupCount: number;
  /** Frame writes waiting in the fan-out queue. */
  readonly queuedFrames: number;
}

/** Receives the duration of one local delivery, in seconds. */
export type PushFanoutObserver = (seconds: number) => void;

/**
 * Counters of this process. Every connection the module closes on its own, every frame it refuses and every
 * upgrade it turns away is counted here, so that nothing is dropped silently. Read them with
 * `PushService.getMetrics()`, or expose them to Prometheus with `registerPushMetrics` from
 * `nest-push-channel/prometheus`.
 */
@Injectable()
export class PushMetrics {
  /** Connections accepted since start. */
  connectionsOpened = 0;
  /** Connections closed since start, for any reason. */
  connectionsClosed = 0;
  /** Frames written to sockets (one per recipient). */
  framesDelivered = 0;
  /** Connections closed because their send queue passed `maxBufferedBytes` (code 1013). */
  slowConsumerDrops = 0;
  /** Connections dropped for not answering pings within `heartbeat.timeout`. */
  heartbeatTimeouts = 0;
  /** Connections closed with 1009 because a frame passed `maxPayload`. */
  payloadTooLarge = 0;
  /** Inbound frames refused with an error frame (malformed JSON, unknown type, binary, inbound off). */
  badFrames = 0;
  /** Times a cluster engine wrote this node's connections back into its index (after an outage, or data loss). */
  engineResyncs = 0;
  /**
   * Errors a cluster engine saw from its backend: connection errors (each failed connect or reconnect attempt)
   * and failed commands (a call answered 503, an index write left for the resync, a failed liveness tick or
   * resync). A command that timed out counts here and in `requestTimeouts`.
   */
  engineErrors = 0;
  /**
   * Times a cluster engine's `requestTimeout` fired: another node did not answer a call in time, or the backend
   * did not answer a command in time.
   */
  requestTimeouts = 0;
  /**
   * Times a cluster engine found its subscriber connection deaf (its own probe did not come back, as on a
   * half-open connection) and reconnected it.
   */
  subscriberResets = 0;
  /** Cluster messages dropped because they could not be read, or named an operation this node does not know. */
  badClusterMessages = 0;
  /**
   * Cluster messages ignored because another node wrote them in a protocol version this node does not speak (two
   * versions deployed at once). The first one from each node is also logged.
   */
  clusterVersionRefusals = 0;
  /**
   * This node's `NodeStats` snapshots the engine could not publish (its backend unreachable): the dashboard shows
   * the node late or not at all until a publish succeeds again.
   */
  nodeStatsPublishFailures = 0;
  /**
   * Upgrades refused: by origin (403), by `authenticate` (401), while shutting down (503), hook errors (500),
   * a hook that did not settle within `authenticateTimeout` (503), `maxConnections` (503),
   * `maxConnectionsPerAddress` (429), and, by `PushWsAdapter`, an upgrade on a path no gateway serves (404) or a
   * URL that does not parse (400).
   */
  readonly rejectedUpgrades = {
    origin: 0,
    auth: 0,
    shuttingDown: 0,
    error: 0,
    authTimeout: 0,
    capacity: 0,
    perAddress: 0,
    unknownPath: 0,
  };
  /**
   * Calls refused by a bound: `joinGroup` past `maxGroupsPerConnection`, a session past `maxSessionBytes`, a send
   * past `maxFanoutQueue` (local sends reject; a push from another node that does not fit is dropped and counted
   * here too).
   */
  readonly limitRefusals = { groups: 0, session: 0, fanoutQueue: 0 };
  /** Resume and recovery, for clients on the resumable protocol (the official client). */
  readonly resumes = {
    /** Resumable connections whose socket dropped and that were kept, detached, for `resume.window`. */
    detached: 0,
    /** Resumes that succeeded: the connection got its bindings back (whether or not its gap was recovered). */
    succeeded: 0,
    /** Of those, the ones told `recovered: false` (history trimmed or lost: the client reloads its state). */
    unrecovered: 0,
    /** Resumes refused (no such connection, a wrong or used secret, a malformed token): the client started afresh. */
    refused: 0,
    /** Resumes answered 1013 because the engine's backend was unavailable (the client tries again). */
    retried: 0,
    /** Sockets replaced by a resume of their own connection (closed with 4001). */
    replaced: 0,
    /** Detached connections not resumed within the window: closed for good (`resume-expired`). */
    expired: 0,
    /** Clients on the resumable protocol closed with 1008: no hello in time, or a malformed one. */
    badHellos: 0,
    /**
     * Resumable connections that dropped while this process kept its most dropped connections (`resume.maxDetached`,
     * or `maxConnectionsPerAddress` of their address): ended at once instead of kept for a resume.
     */
    overLimit: 0,
    /** Messages replayed to resuming connections. */
    replayedMessages: 0,
    /**
     * Resumable connections cut (1013) because a message of a target's history would have reached them past a gap
     * (their node missed messages: a subscription confirmed late, a subscriber that reconnected); they resume and
     * their replay fills it.
     */
    gaps: 0,
  };

  /**
   * Whether local deliveries are timed: only while an observer listens (`onFanoutDuration`), so that without one
   * the delivery path never reads the clock.
   */
  timingFanouts = false;
  private source: PushGaugeSource | null = null;
  private readonly fanoutObservers: PushFanoutObserver[] = [];

  /** Connections this node holds now (a gauge). */
  get connections(): number {
    return this.source?.size ?? 0;
  }

  /** Distinct uids bound on this node now (a gauge). */
  get uids(): number {
    return this.source?.uidCount ?? 0;
  }

  /** Groups with members on this node now (a gauge). */
  get groups(): number {
    return this.source?.groupCount ?? 0;
  }

  /** Frame writes (recipients × messages) waiting in this node's fan-out queue now, bounded by `maxFanoutQueue`. */
  get fanoutQueueFrames(): number {
    return this.source?.queuedFrames ?? 0;
  }

  /**
   * Names where the gauges are read from (this node's `LocalRegistry` calls it when it is created). Read at
   * scrape time, so the hot path does not keep a second count.
   */
  attach(source: PushGaugeSource): void {
    this.source = source;
  }

  /**
   * Calls `observer` with the duration, in seconds, of every local delivery from now on: from the start of the
   * delivery to its last frame written (a fan-out larger than `fanoutChunk` spans several event-loop turns).
   * Returns a function that stops it.
   */
  onFanoutDuration(observer: PushFanoutObserver): () => void {
    this.fanoutObservers.push(observer);
    this.timingFanouts = true;
    return () => {
      const index = this.fanoutObservers.indexOf(observer);
      if (index >= 0) this.fanoutObservers.splice(index, 1);
      this.timingFanouts = this.fanoutObservers.length > 0;
    };
  }

  /** Reports one local delivery's duration to the observers (the registry calls it while `timingFanouts`). */
  recordFanout(seconds: number): void {
    for (const observer of this.fanoutObservers) observer(seconds);
  }

  /** A plain copy, safe to serialise. */
  snapshot(): PushMetricsSnapshot {
    return {
      connectionsOpened: this.connectionsOpened,
      connectionsClosed: this.connectionsClosed,
      framesDelivered: this.framesDelivered,
      slowConsumerDrops: this.slowConsumerDrops,
      heartbeatTimeouts: this.heartbeatTimeouts,
      payloadTooLarge: this.payloadTooLarge,
      badFrames: this.badFrames,
      engineResyncs: this.engineResyncs,
      engineErrors: this.engineErrors,
      requestTimeouts: this.requestTimeouts,
      subscriberResets: this.subscriberResets,
      badClusterMessages: this.badClusterMessages,
      clusterVersionRefusals: this.clusterVersionRefusals,
      nodeStatsPublishFailures: this.nodeStatsPublishFailures,
      rejectedUpgrades: { ...this.rejectedUpgrades },
      limitRefusals: { ...this.limitRefusals },
      resumes: { ...this.resumes },
      connections: this.connections,
      uids: this.uids,
      groups: this.groups,
      fanoutQueueFrames: this.fanoutQueueFrames,
    };
  }
}

/** Members of `PushMetrics` that are not data. */
type PushMetricsBehaviour = 'snapshot' | 'attach' | 'onFanoutDuration' | 'recordFanout' | 'timingFanouts';

/** A copy of the counters (and gauges) at one moment. */
export type PushMetricsSnapshot = Omit<
  PushMetrics,
  PushMetricsBehaviour | 'rejectedUpgrades' | 'limitRefusals' | 'resumes'
> & {
  rejectedUpgrades: PushMetrics['rejectedUpgrades'];
  limitRefusals: PushMetrics['limitRefusals'];
  resumes: PushMetrics['resumes'];
};

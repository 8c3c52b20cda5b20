import { Injectable } from '@nestjs/common';

/**
 * Counters of this process. Every connection the module closes on its own, every frame it refuses and every
 * upgrade it turns away is counted here, so that nothing is dropped silently. Read them with
 * `PushService.getMetrics()`.
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
   * Times a cluster engine found its subscriber connection deaf (its own probe did not come back, as on a
   * half-open connection) and reconnected it.
   */
  subscriberResets = 0;
  /** Cluster messages dropped because they could not be read or came from an unknown protocol version. */
  badClusterMessages = 0;
  /**
   * Upgrades refused: by origin (403), by `authenticate` (401), while shutting down (503), hook errors (500),
   * a hook that did not settle within `authenticateTimeout` (503), `maxConnections` (503) and
   * `maxConnectionsPerAddress` (429).
   */
  readonly rejectedUpgrades = {
    origin: 0,
    auth: 0,
    shuttingDown: 0,
    error: 0,
    authTimeout: 0,
    capacity: 0,
    perAddress: 0,
  };
  /**
   * Calls refused by a bound: `joinGroup` past `maxGroupsPerConnection`, a session past `maxSessionBytes`, a send
   * past `maxFanoutQueue` (local sends reject; a push from another node that does not fit is dropped and counted
   * here too).
   */
  readonly limitRefusals = { groups: 0, session: 0, fanoutQueue: 0 };

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
      subscriberResets: this.subscriberResets,
      badClusterMessages: this.badClusterMessages,
      rejectedUpgrades: { ...this.rejectedUpgrades },
      limitRefusals: { ...this.limitRefusals },
    };
  }
}

/** A copy of the counters at one moment. */
export type PushMetricsSnapshot = Omit<PushMetrics, 'snapshot' | 'rejectedUpgrades' | 'limitRefusals'> & {
  rejectedUpgrades: PushMetrics['rejectedUpgrades'];
  limitRefusals: PushMetrics['limitRefusals'];
};

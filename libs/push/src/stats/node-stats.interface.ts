/**
 * One node's stats at one moment, as it publishes them through the engine every `nodeStatsInterval` ms so that
 * any node can show the whole cluster (`PushService.getClusterStats()`, the example app's `/dashboard`).
 *
 * Gauges describe this node only (not the cluster). Counters only grow while the node runs (a restarted node has a
 * new `nodeId`); a reader gets per-second rates from two snapshots of the same node: `Δcounter / Δtime`. About
 * 450 bytes of JSON.
 */
export interface NodeStats {
  /** The node's id (the first 16 hex characters of every client_id it issues). */
  nodeId: string;
  /** When the snapshot was taken: ms since the epoch, on the node's own clock. */
  time: number;
  /** How often the node publishes, in ms (a snapshot older than 3 × this is gone). */
  interval: number;
  /** Open connections on this node. */
  connections: number;
  /** Distinct uids bound on this node. */
  uids: number;
  /** Groups with a member on this node. */
  groups: number;
  /** Counter: connections accepted. */
  connectionsOpened: number;
  /** Counter: connections closed, for any reason. */
  connectionsClosed: number;
  /** Counter: frames written to sockets (one per recipient). */
  framesDelivered: number;
  /** Counter: connections closed because their send queue passed `maxBufferedBytes` (1013). */
  slowConsumerDrops: number;
  /** Counter: connections dropped for not answering pings within `heartbeat.timeout`. */
  heartbeatTimeouts: number;
  /** Counter: upgrades refused, every reason together (see `PushMetrics.rejectedUpgrades`). */
  rejectedUpgrades: number;
  /** Counter: connections closed with 1009 (a frame over `maxPayload`). */
  payloadTooLarge: number;
  /** Counter: inbound frames refused with an error frame. */
  badFrames: number;
  /** Counter: calls refused by a bound, every bound together (see `PushMetrics.limitRefusals`). */
  limitRefusals: number;
  /** Counter: times a cluster engine wrote this node's connections back into its index. */
  engineResyncs: number;
  /** Counter: times a cluster engine found its subscriber deaf and reconnected it. */
  subscriberResets: number;
  /** Counter: snapshots this node could not publish (its engine's backend was unreachable). */
  publishFailures: number;
}

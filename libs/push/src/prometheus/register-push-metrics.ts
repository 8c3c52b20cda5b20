import type { Registry } from 'prom-client';
import type { PushMetrics } from '../push-metrics.service';
import { Counter, Gauge, Histogram } from './prom-client.peer';

/** Upper bounds (seconds) of `nest_push_fanout_duration_seconds`: from 50 µs (one socket) to 2.5 s (a huge fan-out). */
export const PUSH_FANOUT_BUCKETS: readonly number[] = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
];

/** Options of `registerPushMetrics`. */
export interface PushPrometheusOptions {
  /** Prefix of every metric name. Default `nest_push_`. */
  prefix?: string;
  /** Upper bounds of the fan-out duration histogram, in seconds. Default `PUSH_FANOUT_BUCKETS`. */
  fanoutBuckets?: readonly number[];
}

/** What `registerPushMetrics` put on a registry. */
export interface PushMetricsRegistration {
  /** The names registered, prefix included. */
  readonly names: readonly string[];
  /** Removes them from the registry, and stops timing deliveries for the histogram. */
  unregister(): void;
}

/** `rejectedUpgrades` keys → the `reason` label: the `code` of the refused upgrade's JSON body. */
const UPGRADE_REASONS = {
  origin: 'origin_not_allowed',
  auth: 'unauthorized',
  error: 'auth_error',
  authTimeout: 'auth_timeout',
  capacity: 'server_full',
  perAddress: 'too_many_connections',
  shuttingDown: 'shutting_down',
  unknownPath: 'unknown_path',
} as const satisfies Record<keyof PushMetrics['rejectedUpgrades'], string>;

/** `limitRefusals` keys → the `limit` label: the `code` of the `PushLimitExceededError`. */
const LIMIT_CODES = {
  groups: 'too_many_groups',
  session: 'session_too_large',
  fanoutQueue: 'fanout_queue_full',
} as const satisfies Record<keyof PushMetrics['limitRefusals'], string>;

/** `resumes` keys → the `event` label of `resume_events_total`. */
const RESUME_EVENTS = {
  detached: 'detached',
  succeeded: 'resumed',
  unrecovered: 'unrecovered',
  refused: 'refused',
  retried: 'retry_later',
  replaced: 'replaced',
  expired: 'expired',
  badHellos: 'bad_hello',
  overLimit: 'over_limit',
  replayedMessages: 'replayed_message',
  gaps: 'gap_resync',
} as const satisfies Record<keyof PushMetrics['resumes'], string>;

type Reading = (metrics: PushMetrics) => number;

/** Gauges: what this node holds at scrape time. */
const GAUGES: [name: string, help: string, read: Reading][] = [
  ['connections', 'WebSocket connections this node holds.', (m) => m.connections],
  ['uids', 'Distinct uids bound to connections on this node.', (m) => m.uids],
  ['groups', 'Groups with members on this node.', (m) => m.groups],
  [
    'fanout_queue_frames',
    "Frame writes (recipients x messages) waiting in this node's fan-out queue; bounded by maxFanoutQueue.",
    (m) => m.fanoutQueueFrames,
  ],
];

/** Counters without labels, read from `PushMetrics` at scrape time. */
const COUNTERS: [name: string, help: string, read: Reading][] = [
  ['connections_opened_total', 'WebSocket connections accepted.', (m) => m.connectionsOpened],
  ['connections_closed_total', 'WebSocket connections closed, for any reason.', (m) => m.connectionsClosed],
  ['frames_delivered_total', 'Frames written to sockets (one per recipient).', (m) => m.framesDelivered],
  [
    'slow_consumer_closes_total',
    'Connections closed with 1013 because their send queue passed maxBufferedBytes.',
    (m) => m.slowConsumerDrops,
  ],
  [
    'heartbeat_timeouts_total',
    'Connections cut for answering no ping within heartbeat.timeout.',
    (m) => m.heartbeatTimeouts,
  ],
  [
    'payload_too_large_total',
    'Connections closed with 1009 because an inbound frame passed maxPayload.',
    (m) => m.payloadTooLarge,
  ],
  ['bad_frames_total', 'Inbound frames refused with an error frame.', (m) => m.badFrames],
  [
    'engine_errors_total',
    'Errors the cluster engine saw from its backend: connection errors and failed commands.',
    (m) => m.engineErrors,
  ],
  [
    'engine_resyncs_total',
    "Times the cluster engine wrote this node's connections back into its index.",
    (m) => m.engineResyncs,
  ],
  [
    'engine_request_timeouts_total',
    'Times requestTimeout fired: another node or the backend did not answer in time.',
    (m) => m.requestTimeouts,
  ],
  [
    'engine_subscriber_resets_total',
    'Times the cluster subscriber was found deaf (its own probe lost) and reconnected.',
    (m) => m.subscriberResets,
  ],
  [
    'engine_bad_messages_total',
    'Cluster messages dropped: unreadable, or naming an unknown operation.',
    (m) => m.badClusterMessages,
  ],
  [
    'engine_version_refusals_total',
    'Cluster messages ignored because another node wrote them in a protocol version this node does not speak.',
    (m) => m.clusterVersionRefusals,
  ],
  [
    'node_stats_publish_failures_total',
    "This node's stats snapshots (for the cluster dashboard) the engine could not publish.",
    (m) => m.nodeStatsPublishFailures,
  ],
];

/**
 * Registers the push module's metrics on a prom-client registry (prom-client's default `register`, or your own),
 * in one call. Counters and gauges are read from `metrics` when the registry is scraped, so the delivery path pays
 * nothing for them; only the fan-out duration histogram is observed as deliveries happen, and deliveries are timed
 * only while it is registered.
 *
 * ```ts
 * import { register } from 'prom-client';
 * import { registerPushMetrics } from 'nest-push-channel/prometheus';
 * registerPushMetrics(register, app.get(PushMetrics));
 * ```
 *
 * Throws, before registering anything, when one of the names is already on the registry.
 */
export function registerPushMetrics(
  registry: Registry,
  metrics: PushMetrics,
  options: PushPrometheusOptions = {},
): PushMetricsRegistration {
  const prefix = options.prefix ?? 'nest_push_';
  const names = [
    ...GAUGES.map(([name]) => prefix + name),
    ...COUNTERS.map(([name]) => prefix + name),
    `${prefix}upgrades_refused_total`,
    `${prefix}limit_refusals_total`,
    `${prefix}resume_events_total`,
    `${prefix}fanout_duration_seconds`,
  ];
  const taken = names.filter((name) => registry.getSingleMetric(name) !== undefined);
  if (taken.length > 0) {
    throw new Error(`registerPushMetrics: already registered on this registry: ${taken.join(', ')}`);
  }
  const registers = [registry];
  for (const [name, help, read] of GAUGES) {
    new Gauge({
      name: prefix + name,
      help,
      registers,
      collect() {
        this.set(read(metrics));
      },
    });
  }
  for (const [name, help, read] of COUNTERS) {
    new Counter({
      name: prefix + name,
      help,
      registers,
      // A counter cannot be set: it is rebuilt from the module's own count on each scrape.
      collect() {
        this.reset();
        this.inc(read(metrics));
      },
    });
  }
  new Counter({
    name: `${prefix}upgrades_refused_total`,
    help: 'WebSocket upgrades refused before the 101, by reason (the code of the JSON answer).',
    labelNames: ['reason'],
    registers,
    collect() {
      this.reset();
      for (const [key, reason] of entries(UPGRADE_REASONS)) this.inc({ reason }, metrics.rejectedUpgrades[key]);
    },
  });
  new Counter({
    name: `${prefix}limit_refusals_total`,
    help: 'Calls refused by a bound of the module, by limit (the code of the PushLimitExceededError).',
    labelNames: ['limit'],
    registers,
    collect() {
      this.reset();
      for (const [key, limit] of entries(LIMIT_CODES)) this.inc({ limit }, metrics.limitRefusals[key]);
    },
  });
  new Counter({
    name: `${prefix}resume_events_total`,
    help:
      'Resume and recovery, by event: detached (a resumable connection dropped and is kept), resumed, unrecovered ' +
      '(resumed but told recovered: false), refused, retry_later (1013), replaced (4001), expired (window passed), ' +
      'bad_hello (1008), replayed_message, gap_resync (cut with 1013 to replay what its node missed).',
    labelNames: ['event'],
    registers,
    collect() {
      this.reset();
      for (const [key, event] of entries(RESUME_EVENTS)) this.inc({ event }, metrics.resumes[key]);
    },
  });
  const durations = new Histogram({
    name: `${prefix}fanout_duration_seconds`,
    help: 'Local deliveries, from the start of each to its last frame written (a large one spans event-loop turns).',
    buckets: [...(options.fanoutBuckets ?? PUSH_FANOUT_BUCKETS)],
    registers,
  });
  const stopTiming = metrics.onFanoutDuration((seconds) => durations.observe(seconds));
  return {
    names,
    unregister() {
      stopTiming();
      for (const name of names) registry.removeSingleMetric(name);
    },
  };
}

function entries<K extends string, V>(record: Record<K, V>): [K, V][] {
  return Object.entries(record) as [K, V][];
}

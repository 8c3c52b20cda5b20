import { isNodeId } from '../identity/client-id';
import type { LocalRegistry } from '../local/local-registry';
import type { PushMetrics } from '../push-metrics.service';
import type { NodeStats } from './node-stats.interface';


/**
 * A published snapshot lives this many intervals: one or two late publishes (a stalled event loop, a slow Redis)
 * do not make a node blink out of the dashboard, and a node that stopped is gone within this bound.
 */
export const NODE_STATS_TTL_INTERVALS = 3;

/** The counters and gauges of `NodeStats`, in one list, so that building and checking a snapshot cannot drift apart. */
const NUMBER_FIELDS = [
  'time',
  'interval',
  'connections',
  'uids',
  'groups',
  'connectionsOpened',
  'connectionsClosed',
  'framesDelivered',
  'slowConsumerDrops',
  'heartbeatTimeouts',
  'rejectedUpgrades',
  'payloadTooLarge',
  'badFrames',
  'limitRefusals',
  'engineResyncs',
  'subscriberResets',
  'publishFailures',
] as const satisfies readonly (keyof NodeStats)[];

/** This node's stats now. */
export function takeNodeStats(
  nodeId: string,
  interval: number,
  registry: LocalRegistry,
  metrics: PushMetrics,
  publishFailures: number,
): NodeStats {
  return {
    nodeId,
    time: Date.now(),
    interval,
    connections: registry.size,
    uids: registry.uidCount,
    groups: registry.groupCount,
    connectionsOpened: metrics.connectionsOpened,
    connectionsClosed: metrics.connectionsClosed,
    framesDelivered: metrics.framesDelivered,
    slowConsumerDrops: metrics.slowConsumerDrops,
    heartbeatTimeouts: metrics.heartbeatTimeouts,
    rejectedUpgrades: sum(metrics.rejectedUpgrades),
    payloadTooLarge: metrics.payloadTooLarge,
    badFrames: metrics.badFrames,
    limitRefusals: sum(metrics.limitRefusals),
    engineResyncs: metrics.engineResyncs,
    subscriberResets: metrics.subscriberResets,
    publishFailures,
  };
}

/**
 * Reads a snapshot another node published (JSON). Returns null for anything that is not one (another version's
 * format, a foreign key under the same prefix): the caller counts it. Unknown fields are dropped, so a newer node's
 * additions never reach a reader that does not know them.
 */
export function parseNodeStats(json: string): NodeStats | null {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const record = value as Record<string, unknown>;
  if (!isNodeId(record.nodeId)) return null;
  const stats = { nodeId: record.nodeId } as NodeStats;
  for (const field of NUMBER_FIELDS) {
    const number = record[field];
    if (typeof number !== 'number' || !Number.isFinite(number) || number < 0) return null;
    stats[field] = number;
  }
  return stats;
}

function sum(counts: Record<string, number>): number {
  let total = 0;
  for (const count of Object.values(counts)) total += count;
  return total;
}

import { register as defaultRegistry, Registry } from 'prom-client';
import { createClientId, createNodeId } from '../identity/client-id';
import { LocalConnection } from '../local/local-connection';
import { LocalRegistry } from '../local/local-registry';
import { EncodedMessage } from '../message/encoded-message';
import { PushMetrics } from '../push-metrics.service';
import { openSocketPairs, SocketPairs } from '../test-support/socket-pair';
import { PUSH_FANOUT_BUCKETS, registerPushMetrics } from './register-push-metrics';

/** `name{label="v"}` → value, as a scraper reads it (prom-client's JSON form of the same exposition). */
async function scrape(registry: Registry): Promise<Map<string, number>> {
  const series = new Map<string, number>();
  for (const metric of await registry.getMetricsAsJSON()) {
    for (const value of metric.values) {
      const name = (value as { metricName?: string }).metricName ?? metric.name;
      const labels = Object.entries(value.labels)
        .map(([k, v]) => `${k}="${v}"`)
        .join(',');
      series.set(labels ? `${name}{${labels}}` : name, value.value);
    }
  }
  return series;
}

describe('registerPushMetrics', () => {
  const nodeId = createNodeId();
  let sockets: SocketPairs | undefined;
  let metrics: PushMetrics;
  let local: LocalRegistry;
  let registry: Registry;

  beforeEach(() => {
    metrics = new PushMetrics();
    local = new LocalRegistry({ maxBufferedBytes: 1024 * 1024, fanoutChunk: 2 }, metrics);
    registry = new Registry();
  });

  afterEach(async () => {
    await sockets?.close();
    sockets = undefined;
  });

  it('exposes the gauges and counters as they are at scrape time', async () => {
    registerPushMetrics(registry, metrics);
    sockets = await openSocketPairs(3);
    const conns = sockets.pairs.map((pair) => new LocalConnection(createClientId(nodeId), pair.server));
    conns.forEach((conn) => local.add(conn));
    local.setUid(conns[0], 'alice');
    local.setUid(conns[1], 'alice');
    local.join(conns[2], 'room');
    metrics.rejectedUpgrades.origin += 2;
    metrics.limitRefusals.groups += 1;
    metrics.engineErrors += 4;

    let series = await scrape(registry);
    expect(series.get('nest_push_connections')).toBe(3);
    expect(series.get('nest_push_uids')).toBe(1);
    expect(series.get('nest_push_groups')).toBe(1);
    expect(series.get('nest_push_frames_delivered_total')).toBe(0);
    expect(series.get('nest_push_upgrades_refused_total{reason="origin_not_allowed"}')).toBe(2);
    expect(series.get('nest_push_upgrades_refused_total{reason="server_full"}')).toBe(0);
    expect(series.get('nest_push_limit_refusals_total{limit="too_many_groups"}')).toBe(1);
    expect(series.get('nest_push_engine_errors_total')).toBe(4);

    // A fan-out larger than fanoutChunk (2) waits in the queue: the gauge shows it until the pump has written it.
    const sent = local.deliver(new Set(conns), EncodedMessage.encode('hello'));
    expect((await scrape(registry)).get('nest_push_fanout_queue_frames')).toBe(3);
    expect(await sent).toEqual({ delivered: 3, held: 0, deferred: 0 });
    local.remove(conns[2]);

    series = await scrape(registry);
    expect(series.get('nest_push_fanout_queue_frames')).toBe(0);
    expect(series.get('nest_push_frames_delivered_total')).toBe(3);
    expect(series.get('nest_push_connections')).toBe(2);
    expect(series.get('nest_push_groups')).toBe(0);
    // Scraping twice does not add the counts up twice.
    expect((await scrape(registry)).get('nest_push_frames_delivered_total')).toBe(3);
  });

  it('observes one fan-out duration per delivery, taken after its last frame, into the given buckets', async () => {
    registerPushMetrics(registry, metrics, { fanoutBuckets: [0.5, 60] });
    sockets = await openSocketPairs(5);
    const conns = sockets.pairs.map((pair) => new LocalConnection(createClientId(nodeId), pair.server));
    conns.forEach((conn) => local.add(conn));
    const framesWhenObserved: number[] = [];
    metrics.onFanoutDuration(() => framesWhenObserved.push(metrics.framesDelivered));

    expect(local.deliver([conns[0]], EncodedMessage.encode('one'))).toEqual({ delivered: 1, held: 0, deferred: 0 }); // synchronous, one socket
    expect(local.deliver([], EncodedMessage.encode('nobody'))).toEqual({ delivered: 0, held: 0, deferred: 0 }); // no recipient: nothing to time
    // Two sends to the same audience merge into one chunked job (3 turns at 2 frames per turn): two observations.
    const everyone = new Set(conns);
    const burst = [local.deliver(everyone, EncodedMessage.encode('a')), local.deliver(everyone, EncodedMessage.encode('b'))];
    expect((await Promise.all(burst)).map((count) => count.delivered)).toEqual([5, 5]);

    expect(framesWhenObserved).toEqual([1, 11, 11]);
    const series = await scrape(registry);
    expect(series.get('nest_push_fanout_duration_seconds_count')).toBe(3);
    expect(series.get('nest_push_fanout_duration_seconds_bucket{le="60"}')).toBe(3);
    expect(series.get('nest_push_fanout_duration_seconds_bucket{le="+Inf"}')).toBe(3);
    expect(series.get('nest_push_fanout_duration_seconds_sum')).toBeGreaterThan(0);
  });

  it('does not time deliveries while nothing observes them', async () => {
    expect(metrics.timingFanouts).toBe(false);
    const registration = registerPushMetrics(registry, metrics);
    expect(metrics.timingFanouts).toBe(true);
    registration.unregister();
    expect(metrics.timingFanouts).toBe(false);
    expect(await registry.metrics()).toBe('\n');
  });

  it('refuses a registry that already has one of the names, before registering anything', async () => {
    registerPushMetrics(registry, metrics);
    const before = registry.getMetricsAsArray().length;
    expect(() => registerPushMetrics(registry, new PushMetrics())).toThrow(
      /already registered on this registry: nest_push_connections, /,
    );
    expect(registry.getMetricsAsArray().length).toBe(before);
    // Another prefix fits beside it (two apps in one process, one registry).
    const other = registerPushMetrics(registry, new PushMetrics(), { prefix: 'other_push_' });
    expect(other.names).toContain('other_push_frames_delivered_total');
  });

  it("works on prom-client's default registry, in Prometheus text format", async () => {
    const registration = registerPushMetrics(defaultRegistry, metrics);
    try {
      metrics.heartbeatTimeouts = 7;
      const text = await defaultRegistry.metrics();
      expect(text).toContain('# TYPE nest_push_heartbeat_timeouts_total counter\nnest_push_heartbeat_timeouts_total 7\n');
      expect(text).toContain('# TYPE nest_push_connections gauge\nnest_push_connections 0\n');
      expect(text).toContain(`nest_push_fanout_duration_seconds_bucket{le="${PUSH_FANOUT_BUCKETS[0]}"} 0`);
    } finally {
      registration.unregister();
    }
    expect(defaultRegistry.getSingleMetric('nest_push_connections')).toBeUndefined();
  });
});

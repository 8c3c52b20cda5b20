import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { PushEngine } from '../engine/push.engine';
import type { LocalRegistry } from '../local/local-registry';
import { PUSH_LOCAL_REGISTRY, PUSH_RESOLVED_OPTIONS } from '../push.constants';
import { PushMetrics } from '../push-metrics.service';
import type { ResolvedPushOptions } from '../push-options';
import type { NodeStats } from './node-stats.interface';
import { NODE_STATS_TTL_INTERVALS, takeNodeStats } from './node-stats';

/**
 * Publishes this node's `NodeStats` through the engine every `nodeStatsInterval` ms, from the moment the app has
 * started until its shutdown begins, so that `PushService.getClusterStats()` on any node sees every node. Each
 * snapshot lives `3 × nodeStatsInterval` ms: a node that stops publishing (crash, partition) is gone within that.
 *
 * A failed publish (the engine's backend unreachable) is counted in `publishFailures`, logged once per run of
 * failures, and never thrown. At most one publish is in flight: a tick that finds the previous one still waiting
 * (a slow backend) is skipped, so a stalled Redis never piles up writes.
 */
@Injectable()
export class NodeStatsPublisher implements OnApplicationBootstrap, BeforeApplicationShutdown {
  /** Snapshots this node could not publish since start (kept in `PushMetrics.nodeStatsPublishFailures`). */
  get publishFailures(): number {
    return this.metrics.nodeStatsPublishFailures;
  }
  /** Snapshots published since start. */
  published = 0;
  private readonly logger = new Logger('NodeStatsPublisher');
  private timer: NodeJS.Timeout | null = null;
  private inFlight: Promise<void> | null = null;
  private failing = false;

  constructor(
    private readonly engine: PushEngine,
    @Inject(PUSH_LOCAL_REGISTRY) private readonly registry: LocalRegistry,
    private readonly metrics: PushMetrics,
    @Inject(PUSH_RESOLVED_OPTIONS) private readonly options: ResolvedPushOptions,
  ) {}

  /** The publish interval in ms, or false when this node does not publish. */
  get interval(): number | false {
    return this.options.nodeStatsInterval;
  }

  /** Starts publishing once the app has started: once at once, then every interval (an unref'd timer). */
  onApplicationBootstrap(): void {
    const interval = this.options.nodeStatsInterval;
    if (interval === false || this.timer) return;
    // Once now, so a node shows up as soon as it has started, not one interval later.
    this.tick();
    this.timer = setInterval(() => this.tick(), interval);
    this.timer.unref();
  }

  /** Stops publishing before the drain, and waits for a publish in flight so none lands after the engine closes. */
  async beforeApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.inFlight;
  }

  /** This node's stats now (also when publishing is off). */
  snapshot(): NodeStats {
    const interval = this.options.nodeStatsInterval || 0;
    return takeNodeStats(this.engine.nodeId, interval, this.registry, this.metrics, this.publishFailures);
  }

  private tick(): void {
    if (this.inFlight || this.options.nodeStatsInterval === false) return;
    const ttl = this.options.nodeStatsInterval * NODE_STATS_TTL_INTERVALS;
    this.inFlight = this.publish(ttl).finally(() => (this.inFlight = null));
  }

  private async publish(ttl: number): Promise<void> {
    try {
      await this.engine.publishNodeStats(this.snapshot(), ttl);
      this.published++;
      if (this.failing) this.logger.log('node stats are published again');
      this.failing = false;
    } catch (error) {
      this.metrics.nodeStatsPublishFailures++;
      if (!this.failing) {
        this.logger.warn(`could not publish this node's stats (counted, will retry): ${(error as Error).message}`);
      }
      this.failing = true;
    }
  }
}

import { Injectable } from '@nestjs/common';
import { PushEngine, type PushEngineHealth } from '../engine/push.engine';
import { PushLifecycle } from '../push-lifecycle.service';
import { HealthIndicatorService, type HealthIndicatorResult } from './terminus.peer';

/** Options of `PushHealthIndicator.isHealthy`. */
export interface PushHealthOptions {
  /**
   * How long the engine's backend may take to answer its ping, in ms. Default: the engine's own bound (the Redis
   * engine's `requestTimeout`, 3 000 ms unless configured).
   */
  timeout?: number;
}

/** What the indicator reports under its key, beside terminus's `status`. */
export type PushHealthDetails = PushEngineHealth & {
  /** The app is shutting down: the gateway drains its connections with 1001 and refuses new ones. */
  shuttingDown: boolean;
};

/**
 * A `@nestjs/terminus` health indicator for the push channel. Up when the engine's backend answers within the
 * bound (Redis: a PING), the cluster subscriber hears this node's own probes, and the app is not shutting down;
 * down otherwise, with the reason in `message`. Provide it in the module that imports `TerminusModule` and sees
 * `PushModule` (the same module, or `PushModule` with `isGlobal: true`):
 *
 * ```ts
 * @Get('health') @HealthCheck()
 * check() { return this.health.check([() => this.push.isHealthy('push')]); }
 * ```
 */
@Injectable()
export class PushHealthIndicator {
  constructor(
    private readonly indicator: HealthIndicatorService,
    private readonly engine: PushEngine,
    private readonly lifecycle: PushLifecycle,
  ) {}

  /** Checks the push channel and reports it under `key` (default `push`). Never throws: down is a result. */
  async isHealthy<const Key extends string = 'push'>(
    key: Key = 'push' as Key,
    options: PushHealthOptions = {},
  ): Promise<HealthIndicatorResult<Key, 'up' | 'down', PushHealthDetails>> {
    const session = this.indicator.check(key);
    const engine = await this.engine.health(options.timeout);
    // Read after the ping: a drain that began while it was in flight must not be reported as up.
    const details: PushHealthDetails = { ...engine, shuttingDown: this.lifecycle.shuttingDown };
    if (details.shuttingDown) {
      return session.down({ ...details, message: 'shutting down: connections are draining, new ones are refused' });
    }
    const healthy = engine.reachable && (engine.subscriber === undefined || engine.subscriber === 'up');
    return healthy ? session.up(details) : session.down(details);
  }
}

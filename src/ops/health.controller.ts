import { Controller, Get } from '@nestjs/common';
import { HealthCheck, HealthCheckService, type HealthCheckResult } from '@nestjs/terminus';
import { PushHealthIndicator } from 'nest-push-channel/health';

/** How long Redis may take to answer the health check's PING: under a typical probe timeout (1 s). */
export const HEALTH_PING_TIMEOUT_MS = 500;

/**
 * `GET /health`: 200 `{status:"ok", info, error, details}` while the push channel can serve; 503 with the same shape
 * (`status:"error"`, or `"shutting_down"`) when Redis does not answer, the cluster subscriber is deaf or
 * reconnecting, or the app is draining for a shutdown.
 */
@Controller()
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly push: PushHealthIndicator,
  ) {}

  @Get('health')
  @HealthCheck()
  check(): Promise<HealthCheckResult> {
    return this.health.check([() => this.push.isHealthy('push', { timeout: HEALTH_PING_TIMEOUT_MS })]);
  }
}

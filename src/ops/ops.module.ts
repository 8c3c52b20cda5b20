import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { PushMetrics } from 'nest-push-channel';
import { PushHealthIndicator } from 'nest-push-channel/health';
import { registerPushMetrics } from 'nest-push-channel/prometheus';
import { Registry } from 'prom-client';
import { HealthController } from './health.controller';
import { MetricsController } from './metrics.controller';

/**
 * Operator endpoints: `GET /metrics` (Prometheus) and `GET /health` (terminus). It needs `PushModule` to be global
 * (`isGlobal: true`), as any module of the app other than the one importing `PushModule.forRoot()` does.
 */
@Module({
  imports: [TerminusModule],
  controllers: [MetricsController, HealthController],
  providers: [
    {
      // A registry of this app's own rather than prom-client's global one: tests run several apps in one process.
      provide: Registry,
      useFactory: (metrics: PushMetrics) => {
        const registry = new Registry();
        registerPushMetrics(registry, metrics);
        return registry;
      },
      inject: [PushMetrics],
    },
    PushHealthIndicator,
  ],
})
export class OpsModule {}

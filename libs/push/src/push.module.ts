import { DynamicModule, Module, Provider } from '@nestjs/common';
import { PushEngine } from './engine/push.engine';
import { createPushGateway } from './gateway/create-push-gateway';
import type { PushModuleExtras } from './interfaces/push-module-options.interface';
import { LocalRegistry } from './local/local-registry';
import { PUSH_ENDPOINT, PUSH_LOCAL_REGISTRY, PUSH_RESOLVED_OPTIONS } from './push.constants';
import {
  ConfigurablePushModule,
  PUSH_ASYNC_OPTIONS_TYPE,
  PUSH_MODULE_OPTIONS,
  PUSH_OPTIONS_TYPE,
} from './push.module-definition';
import { createPushEngine } from './push-engine.factory';
import { PushEvents } from './push-events.service';
import { type PushEndpoint, PushLifecycle } from './push-lifecycle.service';
import { PushMetrics } from './push-metrics.service';
import { resolvePushOptions, ResolvedPushOptions } from './push-options';
import { PushService } from './push.service';
import { NodeStatsPublisher } from './stats/node-stats.publisher';

const coreProviders: Provider[] = [
  { provide: PUSH_RESOLVED_OPTIONS, useFactory: resolvePushOptions, inject: [PUSH_MODULE_OPTIONS] },
  PushMetrics,
  {
    provide: PUSH_LOCAL_REGISTRY,
    useFactory: (options: ResolvedPushOptions, metrics: PushMetrics) =>
      new LocalRegistry(
        {
          maxBufferedBytes: options.maxBufferedBytes,
          fanoutChunk: options.fanoutChunk,
          maxFanoutQueue: options.maxFanoutQueue,
          maxGroupsPerConnection: options.maxGroupsPerConnection,
          maxSessionBytes: options.maxSessionBytes,
        },
        metrics,
      ),
    inject: [PUSH_RESOLVED_OPTIONS, PushMetrics],
  },
  {
    provide: PushEngine,
    useFactory: createPushEngine,
    inject: [PUSH_RESOLVED_OPTIONS, PUSH_LOCAL_REGISTRY, PushMetrics],
  },
  PushEvents,
  PushService,
  PushLifecycle,
  NodeStatsPublisher,
];

/**
 * The push channel. `PushModule.forRoot({...})` or `PushModule.forRootAsync({ useFactory, inject })` gives the
 * app `PushService` (send, bind, query) and `PushEvents` (connect / message / close), and, unless
 * `gateway: false`, a WebSocket endpoint at `path` (default `/ws`) on the app's own HTTP port.
 */
@Module({})
export class PushModule extends ConfigurablePushModule {
  /** Configures the module with static options. */
  static forRoot(options: typeof PUSH_OPTIONS_TYPE = {}): DynamicModule {
    return PushModule.assemble(super.forRoot(options), options);
  }

  /** Configures the module with options built by a factory (for example from `ConfigService`). */
  static forRootAsync(options: typeof PUSH_ASYNC_OPTIONS_TYPE): DynamicModule {
    return PushModule.assemble(super.forRootAsync(options), options);
  }

  private static assemble(base: DynamicModule, extras: PushModuleExtras): DynamicModule {
    const gateway = extras.gateway !== false;
    const path = gateway ? normalisePath(extras.path ?? '/ws') : (extras.path ?? '/ws');
    const endpoint: PushEndpoint = { gateway, path, port: extras.port ?? 0 };
    const providers: Provider[] = [...(base.providers ?? []), ...coreProviders];
    providers.push({ provide: PUSH_ENDPOINT, useValue: endpoint });
    if (gateway) providers.push(createPushGateway(endpoint.path, endpoint.port));
    return {
      ...base,
      providers,
      exports: [...(base.exports ?? []), PushService, PushEvents, PushEngine, PushMetrics, PushLifecycle, NodeStatsPublisher],
    };
  }
}

function normalisePath(path: string): string {
  if (!path.startsWith('/')) throw new Error(`PushModule: path must start with "/", got ${JSON.stringify(path)}`);
  return path.length > 1 ? path.replace(/\/+$/, '') : path;
}

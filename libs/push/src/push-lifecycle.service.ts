import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnApplicationShutdown,
} from '@nestjs/common';
import { PushEngine } from './engine/push.engine';
import { resolveRedisEngineOptions } from './engine/redis/redis-engine.options';
import type { PushEngineOption } from './interfaces/push-module-options.interface';
import { PUSH_ENDPOINT, PUSH_RESOLVED_OPTIONS } from './push.constants';
import type { ResolvedPushOptions } from './push-options';
import { redactUrl } from './util/redact-url';

/** Where the module serves WebSockets, as `forRoot` / `forRootAsync` was told (its extras). */
export interface PushEndpoint {
  /** False on a push-only node (no WebSocket listener). */
  gateway: boolean;
  /** Path of the WebSocket endpoint. */
  path: string;
  /** 0: the app's own HTTP port; otherwise a listener of its own. */
  port: number;
}

/**
 * The module's own start and stop: one start-up line naming the engine, node, path and gateway; the
 * shutting-down state that health checks read; and the engine stopped last.
 */
@Injectable()
export class PushLifecycle implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger('PushModule');
  private stopping = false;

  constructor(
    private readonly engine: PushEngine,
    @Inject(PUSH_RESOLVED_OPTIONS) private readonly options: ResolvedPushOptions,
    @Inject(PUSH_ENDPOINT) private readonly endpoint: PushEndpoint,
  ) {}

  /**
   * True from the moment the app begins to shut down (SIGTERM, `app.close()`): the gateway is draining its
   * connections with 1001 and refuses new ones, so a load balancer should stop sending traffic here.
   */
  get shuttingDown(): boolean {
    return this.stopping;
  }

  /** Once per app, when it has started: which engine runs, under which node id, and where the gateway listens. */
  onApplicationBootstrap(): void {
    this.logger.log(startupLine(this.engine.nodeId, this.options.engine, this.endpoint));
  }

  /** Runs beside the gateway's drain (same module), so health checks answer 503 for the whole of it. */
  beforeApplicationShutdown(): void {
    this.stopping = true;
  }

  /**
   * Stops the engine last: Nest runs `onApplicationShutdown` after the gateway's `beforeApplicationShutdown` has
   * drained the sockets, so the engine can still remove the entries of the connections that closed.
   */
  async onApplicationShutdown(): Promise<void> {
    this.stopping = true;
    await this.engine.close();
  }
}

/**
 * The start-up line: `node=<id> engine=<name> [url=<redacted>|cluster=<nodes>|connections=<how> prefix=<p>] gateway=on
 * path=<path> port=<app|n>`.
 * A Redis URL never shows its user or password.
 */
export function startupLine(nodeId: string, engine: PushEngineOption, endpoint: PushEndpoint): string {
  const parts = [`node=${nodeId}`, `engine=${engineName(engine)}`];
  if (!(engine instanceof PushEngine) && engine.type === 'redis') {
    const redis = resolveRedisEngineOptions(engine);
    if (redis.createClient) parts.push('connections=createClient');
    else if (redis.client) parts.push('connections=client');
    else if (redis.cluster) {
      parts.push(`cluster=${redis.cluster.map((n) => (typeof n === 'string' ? n : `${n.host}:${n.port}`)).join(',')}`);
    } else parts.push(`url=${redactUrl(redis.url)}`);
    parts.push(`prefix=${redis.prefix}`);
  }
  if (endpoint.gateway) {
    parts.push('gateway=on', `path=${endpoint.path}`, `port=${endpoint.port === 0 ? 'app' : endpoint.port}`);
  } else {
    parts.push('gateway=off (push-only node)');
  }
  return `push channel started: ${parts.join(' ')}`;
}

function engineName(engine: PushEngineOption): string {
  return engine instanceof PushEngine ? engine.constructor.name : engine.type;
}

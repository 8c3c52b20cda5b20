import { MemoryEngine } from './engine/memory.engine';
import { PushEngine } from './engine/push.engine';
import type { LocalRegistry } from './local/local-registry';
import type { PushMetrics } from './push-metrics.service';
import type { ResolvedPushOptions } from './push-options';
import { OPTIONAL_PEERS, requireOptionalPeer } from './util/optional-peer';

/** Builds the configured engine and starts it before any gateway can accept a connection. */
export async function createPushEngine(
  options: ResolvedPushOptions,
  registry: LocalRegistry,
  metrics: PushMetrics,
): Promise<PushEngine> {
  const choice = options.engine;
  let engine: PushEngine;
  if (choice instanceof PushEngine) {
    engine = choice;
  } else if (choice.type === 'memory') {
    engine = new MemoryEngine();
  } else if (choice.type === 'redis') {
    // Loaded on demand so that an app on the memory engine never needs ioredis installed (an optional peer);
    // checked first so that an app that chose Redis without it fails with what to install, not a require stack.
    requireOptionalPeer(OPTIONAL_PEERS.ioredis);
    const { RedisEngine } = await import('./engine/redis/redis.engine');
    engine = new RedisEngine(choice);
  } else {
    throw new Error(`PushModule: unknown engine type ${JSON.stringify((choice as { type?: unknown }).type)}`);
  }
  await engine.init({ registry, metrics, resume: options.resume });
  return engine;
}

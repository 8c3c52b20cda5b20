import type { HistoryLimits } from './history/history.interface';
import type { PushHeartbeatOptions, PushModuleOptions } from './interfaces/push-module-options.interface';
import type { RedisEngineOptions } from './engine/redis/redis-engine.options';
import { PUSH_DEFAULTS } from './push.constants';
import { originMatcher } from './util/origin-matcher';

/** Resume and recovery with every default filled in. */
export interface ResolvedResumeOptions {
  window: number;
  helloTimeout: number;
  maxDetached: number;
  history: HistoryLimits;
}

/** The options with every default filled in and every value checked. */
export interface ResolvedPushOptions
  extends Omit<Required<PushModuleOptions>, 'heartbeat' | 'authenticate' | 'allowedOrigins' | 'resume'> {
  heartbeat: PushHeartbeatOptions | false;
  authenticate: PushModuleOptions['authenticate'] | null;
  allowedOrigins: ((origin: string) => boolean) | null;
  resume: ResolvedResumeOptions | false;
}

/** Fills in defaults and refuses nonsense early, at boot, with a message that names the option. */
export function resolvePushOptions(options: PushModuleOptions = {}): ResolvedPushOptions {
  const heartbeat = options.heartbeat === false ? false : { ...PUSH_DEFAULTS.heartbeat, ...options.heartbeat };
  if (heartbeat) {
    positive('heartbeat.interval', heartbeat.interval);
    positive('heartbeat.timeout', heartbeat.timeout);
    if (heartbeat.timeout < heartbeat.interval) {
      throw new Error('PushModule: heartbeat.timeout must be at least heartbeat.interval');
    }
  }
  const resolved: ResolvedPushOptions = {
    engine: options.engine ?? { type: 'memory' },
    heartbeat,
    maxPayload: options.maxPayload ?? PUSH_DEFAULTS.maxPayload,
    maxBufferedBytes: options.maxBufferedBytes ?? PUSH_DEFAULTS.maxBufferedBytes,
    allowedOrigins: originPredicate(options.allowedOrigins),
    requireOrigin: options.requireOrigin ?? false,
    authenticate: options.authenticate ?? null,
    initMessage: options.initMessage ?? ((clientId: string) => ({ type: 'init', client_id: clientId })),
    inbound: options.inbound ?? false,
    maxIdLength: options.maxIdLength ?? PUSH_DEFAULTS.maxIdLength,
    fanoutChunk: options.fanoutChunk ?? PUSH_DEFAULTS.fanoutChunk,
    shutdownTimeout: options.shutdownTimeout ?? PUSH_DEFAULTS.shutdownTimeout,
    maxGroupsPerConnection: options.maxGroupsPerConnection ?? PUSH_DEFAULTS.maxGroupsPerConnection,
    maxSessionBytes: options.maxSessionBytes ?? PUSH_DEFAULTS.maxSessionBytes,
    maxConnections: options.maxConnections ?? PUSH_DEFAULTS.maxConnections,
    maxConnectionsPerAddress: options.maxConnectionsPerAddress ?? PUSH_DEFAULTS.maxConnectionsPerAddress,
    authenticateTimeout: options.authenticateTimeout ?? PUSH_DEFAULTS.authenticateTimeout,
    maxFanoutQueue: options.maxFanoutQueue ?? PUSH_DEFAULTS.maxFanoutQueue,
    nodeStatsInterval: options.nodeStatsInterval ?? PUSH_DEFAULTS.nodeStatsInterval,
    resume: resolveResume(options.resume, heartbeat, options.engine, options.maxConnections ?? PUSH_DEFAULTS.maxConnections),
  };
  positive('maxPayload', resolved.maxPayload);
  positive('maxBufferedBytes', resolved.maxBufferedBytes);
  positive('maxIdLength', resolved.maxIdLength);
  positive('fanoutChunk', resolved.fanoutChunk);
  if (!(resolved.shutdownTimeout >= 0)) throw new Error('PushModule: shutdownTimeout must be >= 0');
  for (const name of LIMITS) limit(name, resolved[name]);
  const stats = resolved.nodeStatsInterval;
  if (stats !== false && (typeof stats !== 'number' || !Number.isFinite(stats) || stats <= 0)) {
    throw new Error('PushModule: nodeStatsInterval must be a positive number of ms, or false');
  }
  return resolved;
}

function resolveResume(
  resume: PushModuleOptions['resume'],
  heartbeat: PushHeartbeatOptions | false,
  engine: PushModuleOptions['engine'],
  maxConnections: number,
): ResolvedResumeOptions | false {
  if (resume === false) return false;
  const defaults = PUSH_DEFAULTS.resume;
  const window = resume?.window ?? defaults.window;
  positive('resume.window', window);
  // The oldest message a resuming client can have missed: one sent just after its connection died unnoticed (found
  // by the heartbeat within timeout + interval), or just after its node was killed (the connection becomes adoptable
  // from the index once the node is found dead, within nodeTtl + reapInterval), then the whole window away. Its
  // history must still hold it then: maxAge defaults to at least that, and a smaller one is refused.
  const needed = window + (heartbeat ? heartbeat.timeout + heartbeat.interval : 0) + deadNodeDelay(engine);
  const resolved: ResolvedResumeOptions = {
    window,
    helloTimeout: resume?.helloTimeout ?? defaults.helloTimeout,
    maxDetached: resume?.maxDetached ?? maxConnections,
    history: {
      ...defaults.history,
      maxAge: Math.max(defaults.history.maxAge, needed),
      ...stripUndefined(resume?.history ?? {}),
    },
  };
  positive('resume.helloTimeout', resolved.helloTimeout);
  if (resume?.maxDetached !== undefined) limit('resume.maxDetached', resume.maxDetached); // else maxConnections's check
  for (const [name, value] of Object.entries(resolved.history)) positive(`resume.history.${name}`, value);
  if (resolved.history.maxAge < needed) {
    throw new Error(
      `PushModule: resume.history.maxAge (${resolved.history.maxAge} ms) must be at least resume.window + ` +
        `heartbeat.timeout + heartbeat.interval (+ engine.nodeTtl + engine.reapInterval on Redis) = ${needed} ms, ` +
        'or a client could resume after its missed messages expired',
    );
  }
  return resolved;
}

/** How long a cluster engine takes to find a killed node dead (its connections then become adoptable). */
function deadNodeDelay(engine: PushModuleOptions['engine']): number {
  if (!engine || !('type' in engine) || engine.type !== 'redis') return 0;
  const { nodeTtl = 10_000, reapInterval } = engine as RedisEngineOptions;
  return nodeTtl + (reapInterval ?? Math.max(50, Math.floor(nodeTtl / 4)));
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Bounds that may be switched off with `Infinity`. */
const LIMITS = [
  'maxGroupsPerConnection',
  'maxSessionBytes',
  'maxConnections',
  'maxConnectionsPerAddress',
  'authenticateTimeout',
  'maxFanoutQueue',
] as const;

function limit(name: string, value: number): void {
  if (typeof value !== 'number' || Number.isNaN(value) || value <= 0) {
    throw new Error(`PushModule: ${name} must be a positive number (or Infinity)`);
  }
}

function positive(name: string, value: number): void {
  if (!Number.isFinite(value) || value <= 0) throw new Error(`PushModule: ${name} must be a positive number`);
}

function originPredicate(allowed: PushModuleOptions['allowedOrigins']): ((origin: string) => boolean) | null {
  if (allowed === undefined) return null;
  if (typeof allowed === 'function') return allowed;
  return originMatcher(allowed);
}

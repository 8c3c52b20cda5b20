import type { PushHeartbeatOptions, PushModuleOptions } from './interfaces/push-module-options.interface';
import { PUSH_DEFAULTS } from './push.constants';
import { originMatcher } from './util/origin-matcher';

/** The options with every default filled in and every value checked. */
export interface ResolvedPushOptions extends Omit<Required<PushModuleOptions>, 'heartbeat' | 'authenticate' | 'allowedOrigins'> {
  heartbeat: PushHeartbeatOptions | false;
  authenticate: PushModuleOptions['authenticate'] | null;
  allowedOrigins: ((origin: string) => boolean) | null;
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

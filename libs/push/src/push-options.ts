import type { HistoryLimits } from './history/history.interface';
import type { PushHeartbeatOptions, PushModuleOptions } from './interfaces/push-module-options.interface';
import { PUSH_DEFAULTS } from './push.constants';
import { originMatcher } from './util/origin-matcher';

/** Resume and recovery with every default filled in. */
export interface ResolvedResumeOptions {
  window: number;
  helloTimeout: number;
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
    resume: resolveResume(options.resume, heartbeat),
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
): ResolvedResumeOptions | false {
  if (resume === false) return false;
  const defaults = PUSH_DEFAULTS.resume;
  const resolved: ResolvedResumeOptions = {
    window: resume?.window ?? defaults.window,
    helloTimeout: resume?.helloTimeout ?? defaults.helloTimeout,
    history: { ...defaults.history, ...stripUndefined(resume?.history ?? {}) },
  };
  positive('resume.window', resolved.window);
  positive('resume.helloTimeout', resolved.helloTimeout);
  for (const [name, value] of Object.entries(resolved.history)) positive(`resume.history.${name}`, value);
  // A client may miss a message sent while its connection was dying unnoticed (up to heartbeat.timeout), then stay
  // away for the whole window: the history must still hold that message when it resumes.
  const needed = resolved.window + (heartbeat ? heartbeat.timeout : 0);
  if (resolved.history.maxAge < needed) {
    throw new Error(
      `PushModule: resume.history.maxAge (${resolved.history.maxAge} ms) must be at least resume.window + ` +
        `heartbeat.timeout (${needed} ms), or a client could resume after its missed messages expired`,
    );
  }
  return resolved;
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

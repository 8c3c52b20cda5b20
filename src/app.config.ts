import { randomBytes } from 'node:crypto';
import type { PushModuleExtras, PushModuleOptions } from 'nest-push-channel';
import { type CookieSecureMode, DEFAULT_LOGIN_TTL_SECONDS } from './auth/login-cookie';
import { type HttpPlatform, parseHttpPlatform } from './http/http-platform';

/** Everything the example app reads from its environment (see the README's "Environment" table). */
export interface AppConfig {
  /** HTTP + WebSocket port. `PORT`, default 3000. */
  port: number;
  /** Interface to listen on. `HOST`, default all interfaces. */
  host?: string;
  /** Nest's HTTP platform: `HTTP_PLATFORM`, `express` (default) or `fastify`; the HTTP contract is the same. */
  httpPlatform: HttpPlatform;
  /** Secret that signs the login cookie; every node of a cluster needs the same one. `COOKIE_SECRET`. */
  cookieSecret: string;
  /** True when no `COOKIE_SECRET` was given and a random one was drawn for this process. */
  cookieSecretGenerated: boolean;
  /** Lifetime of a login cookie in seconds (signed into it, and its Max-Age). `LOGIN_TTL_SECONDS`, default 24 h. */
  loginTtlSeconds: number;
  /**
   * `Secure` attribute of the login cookie. `COOKIE_SECURE`: unset/`auto` = when the request came over https,
   * `on` = always (behind a TLS-terminating proxy), `off` = never.
   */
  cookieSecure: CookieSecureMode;
  /** Largest HTTP body accepted by the JSON and form parsers; larger answers 413. */
  bodyLimit: string;
  /** Options handed to `PushModule.forRoot()`. */
  push: PushModuleOptions & PushModuleExtras;
  /** Serves the cluster dashboard (`GET /dashboard`, `GET /dashboard/stats`). `DASHBOARD`, default on. */
  dashboard: boolean;
}

/** Largest request body of the example app (documented in the README's HTTP contract). */
export const BODY_LIMIT = '16kb';

/** Reads the app's configuration from environment variables, failing fast on a malformed one. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const secret = env.COOKIE_SECRET;
  const push: AppConfig['push'] = {
    path: env.PUSH_PATH || '/ws',
    gateway: parseBool('PUSH_GATEWAY', env.PUSH_GATEWAY, true),
    inbound: parseBool('PUSH_INBOUND', env.PUSH_INBOUND, false),
  };
  if (env.PUSH_ALLOWED_ORIGINS) {
    push.allowedOrigins = env.PUSH_ALLOWED_ORIGINS.split(',').map((o) => o.trim()).filter(Boolean);
  }
  if (env.PUSH_HEARTBEAT_INTERVAL_MS || env.PUSH_HEARTBEAT_TIMEOUT_MS) {
    const interval = parseNumber('PUSH_HEARTBEAT_INTERVAL_MS', env.PUSH_HEARTBEAT_INTERVAL_MS, 25_000);
    push.heartbeat = {
      interval,
      timeout: parseNumber('PUSH_HEARTBEAT_TIMEOUT_MS', env.PUSH_HEARTBEAT_TIMEOUT_MS, interval * 2.4),
    };
  }
  const engine = (env.PUSH_ENGINE || 'memory').toLowerCase();
  if (engine === 'redis') {
    push.engine = {
      type: 'redis',
      url: env.REDIS_URL || 'redis://127.0.0.1:6379',
      ...(env.REDIS_CLUSTER_NODES ? { cluster: parseClusterNodes(env.REDIS_CLUSTER_NODES) } : {}),
      prefix: env.PUSH_REDIS_PREFIX || 'push:',
      ...(env.PUSH_NODE_TTL_MS ? { nodeTtl: parseNumber('PUSH_NODE_TTL_MS', env.PUSH_NODE_TTL_MS, 10_000) } : {}),
      ...(env.PUSH_REQUEST_TIMEOUT_MS
        ? { requestTimeout: parseNumber('PUSH_REQUEST_TIMEOUT_MS', env.PUSH_REQUEST_TIMEOUT_MS, 3_000) }
        : {}),
    };
  } else if (engine !== 'memory') {
    throw new Error(`PUSH_ENGINE must be memory or redis, got "${env.PUSH_ENGINE}"`);
  }
  if (env.PUSH_NODE_STATS_INTERVAL_MS) {
    const raw = env.PUSH_NODE_STATS_INTERVAL_MS;
    const off = /^off$/i.test(raw);
    push.nodeStatsInterval = off ? false : parsePositiveInteger('PUSH_NODE_STATS_INTERVAL_MS', raw, 0, ' or off');
  }
  if (!parseBool('PUSH_RESUME', env.PUSH_RESUME, true)) push.resume = false;
  else if (env.PUSH_RESUME_WINDOW_MS) {
    push.resume = { window: parsePositiveInteger('PUSH_RESUME_WINDOW_MS', env.PUSH_RESUME_WINDOW_MS, 120_000) };
  }
  if (env.PUSH_MAX_PAYLOAD) push.maxPayload = parseNumber('PUSH_MAX_PAYLOAD', env.PUSH_MAX_PAYLOAD, 0);
  if (env.PUSH_MAX_BUFFERED_BYTES) {
    push.maxBufferedBytes = parseNumber('PUSH_MAX_BUFFERED_BYTES', env.PUSH_MAX_BUFFERED_BYTES, 0);
  }
  if (env.PUSH_MAX_CONNECTIONS) push.maxConnections = parseLimit('PUSH_MAX_CONNECTIONS', env.PUSH_MAX_CONNECTIONS);
  if (env.PUSH_MAX_CONNECTIONS_PER_ADDRESS) {
    push.maxConnectionsPerAddress = parseLimit('PUSH_MAX_CONNECTIONS_PER_ADDRESS', env.PUSH_MAX_CONNECTIONS_PER_ADDRESS);
  }
  return {
    port: parseNumber('PORT', env.PORT, 3000),
    host: env.HOST || undefined,
    httpPlatform: parseHttpPlatform('HTTP_PLATFORM', env.HTTP_PLATFORM),
    cookieSecret: secret || randomBytes(32).toString('hex'),
    cookieSecretGenerated: !secret,
    loginTtlSeconds: parsePositiveInteger('LOGIN_TTL_SECONDS', env.LOGIN_TTL_SECONDS, DEFAULT_LOGIN_TTL_SECONDS),
    cookieSecure: parseSecureMode('COOKIE_SECURE', env.COOKIE_SECURE),
    bodyLimit: BODY_LIMIT,
    push,
    dashboard: parseBool('DASHBOARD', env.DASHBOARD, true),
  };
}

/** A positive bound, or `off` for none (behind a reverse proxy every client shares the proxy's address). */
function parseLimit(name: string, raw: string): number {
  return /^(off|none|infinity)$/i.test(raw) ? Infinity : parsePositiveInteger(name, raw, Infinity, ' or off');
}

function parseNumber(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a non-negative number, got "${raw}"`);
  return value;
}

function parsePositiveInteger(name: string, raw: string | undefined, fallback: number, or = ''): number {
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new Error(`${name} must be a positive whole number${or}, got "${raw}"`);
  }
  return value;
}

function parseSecureMode(name: string, raw: string | undefined): CookieSecureMode {
  if (raw === undefined || raw === '' || /^auto$/i.test(raw)) return 'auto';
  try {
    return parseBool(name, raw, false);
  } catch {
    throw new Error(`${name} must be auto, on or off, got "${raw}"`);
  }
}

function parseBool(name: string, raw: string | undefined, fallback: boolean): boolean {
  if (raw === undefined || raw === '') return fallback;
  if (/^(1|true|on|yes)$/i.test(raw)) return true;
  if (/^(0|false|off|no)$/i.test(raw)) return false;
  throw new Error(`${name} must be on/off (or true/false), got "${raw}"`);
}

/** `REDIS_CLUSTER_NODES=host:port,host:port,…`: the Redis Cluster nodes to start from (any masters). */
function parseClusterNodes(raw: string): string[] {
  const nodes = raw.split(',').map((node) => node.trim()).filter(Boolean);
  for (const node of nodes) {
    if (!/^[^\s:]+:\d{1,5}$/.test(node)) {
      throw new Error(`REDIS_CLUSTER_NODES must be host:port,host:port,…, got ${JSON.stringify(raw)}`);
    }
  }
  if (nodes.length === 0) throw new Error('REDIS_CLUSTER_NODES lists no node');
  return nodes;
}

/** Namespaced injection token of the resolved options (every default filled in). */
export const PUSH_RESOLVED_OPTIONS = Symbol('push:resolved-options');
/** Namespaced injection token of this process's socket registry. */
export const PUSH_LOCAL_REGISTRY = Symbol('push:local-registry');
/** Namespaced injection token of where the gateway listens (`PushEndpoint`: gateway on/off, path, port). */
export const PUSH_ENDPOINT = Symbol('push:endpoint');

/** Defaults of every connection knob; the README's configuration table lists the same values. */
export const PUSH_DEFAULTS = {
  heartbeat: { interval: 25_000, timeout: 60_000 },
  maxPayload: 16 * 1024,
  maxBufferedBytes: 4 * 1024 * 1024,
  maxIdLength: 256,
  fanoutChunk: 1024,
  shutdownTimeout: 3_000,
  maxGroupsPerConnection: 100,
  maxSessionBytes: 16 * 1024,
  maxConnections: 50_000,
  maxConnectionsPerAddress: 1_000,
  authenticateTimeout: 10_000,
  maxFanoutQueue: 1_000_000,
  nodeStatsInterval: 2_000,
  resume: {
    window: 120_000,
    helloTimeout: 10_000,
    history: { maxCount: 1_000, maxBytes: 1024 * 1024, maxAge: 300_000, maxTotalBytes: 64 * 1024 * 1024 },
  },
} as const;

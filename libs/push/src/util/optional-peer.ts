/** A package this one uses only for one feature, declared as an optional peer dependency. */
export interface OptionalPeer {
  /** Package name, as given to `require`. */
  readonly name: string;
  /** The versions the feature works with: the range of `peerDependencies` in the package's package.json. */
  readonly range: string;
  /** What needs it, as the error names it ("the Redis engine (engine: { type: 'redis' })"). */
  readonly feature: string;
}

/**
 * The package's optional peers. Each range must equal the one in libs/push/package.json (a unit test checks it):
 * the install hint of the error is the range npm will accept without a peer conflict.
 */
export const OPTIONAL_PEERS = {
  ioredis: { name: 'ioredis', range: '^5.0.0', feature: "the Redis engine (engine: { type: 'redis' })" },
  promClient: { name: 'prom-client', range: '^15.0.0', feature: 'the Prometheus metrics (nest-push-channel/prometheus)' },
  terminus: { name: '@nestjs/terminus', range: '^11.0.0', feature: 'the health indicator (nest-push-channel/health)' },
} as const satisfies Record<string, OptionalPeer>;

/**
 * A feature was used whose optional peer dependency is not installed. The message says what to install, so the
 * app fails at start-up with that sentence instead of `Cannot find module …` and a require stack. Node's error is
 * not kept as `cause`: loggers print a cause in full, and it would only repeat, at length, that the peer is missing.
 */
export class PushMissingPeerError extends Error {
  /** Machine-readable, like the HTTP errors' `code`. */
  readonly code = 'missing_peer_dependency' as const;

  constructor(
    /** The peer that is missing. */
    readonly peer: OptionalPeer,
  ) {
    super(
      `nest-push-channel: ${peer.feature} needs the package "${peer.name}", which is not installed. ` +
        `Install it next to nest-push-channel: npm install ${peer.name}@"${peer.range}"`,
    );
    this.name = 'PushMissingPeerError';
  }
}

/**
 * Loads an optional peer, or throws `PushMissingPeerError` when it is not installed. Any other failure (the peer
 * is there but one of its own dependencies is missing, or it throws while loading) is rethrown as it is: the
 * install hint would be wrong for it. Resolution starts from this package's own directory, as a plain `import`
 * of the peer would, so it finds the peer in the app's node_modules.
 */
export function requireOptionalPeer<T = unknown>(peer: OptionalPeer): T {
  try {
    return require(peer.name) as T;
  } catch (error) {
    if (isNotFound(error, peer.name)) throw new PushMissingPeerError(peer);
    throw error;
  }
}

/** True for Node's "Cannot find module '<name>'" about that very package (not about one of its dependencies). */
function isNotFound(error: unknown, name: string): boolean {
  // Duck-typed, not `instanceof Error`: a loader of another realm (Jest's, a VM context) throws its own Error.
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  return code === 'MODULE_NOT_FOUND' && typeof message === 'string' && message.startsWith(`Cannot find module '${name}'`);
}

import type { ClusterDirectory } from './cluster-directory';
import type { ClusterRoute, ClusterTransport } from './cluster-transport';

/**
 * Keeps this node listening on exactly the uid and group routes it has members for, driven by the registry's
 * first-member and last-member events (`LocalRegistry.onMembership`): a uid or group that gains its first member
 * here is subscribed and counted as hosted by this node in the directory; one that loses its last member is
 * unsubscribed and no longer counted. Nothing else subscribes or unsubscribes, so the two never drift apart.
 *
 * Both follow the event synchronously, so the directory sees a node's host/unhost of one name in the order they
 * happened. A write that fails is left to the resync (`onFailure`), which sets both from the registry again.
 */
export class RouteSubscriptions {
  /** Subscribed routes by key, each with the promise of its confirmation. */
  private readonly routes = new Map<string, { route: ClusterRoute; confirmed: Promise<void> }>();

  constructor(
    private readonly nodeId: string,
    private readonly transport: ClusterTransport,
    private readonly directory: ClusterDirectory,
    /** Called when a subscription or a directory write failed: the resync must run. */
    private readonly onFailure: (what: string, error: unknown) => void,
  ) {}

  /** How many uid and group routes this node listens on. */
  get size(): number {
    return this.routes.size;
  }

  /** The registry's membership listener. */
  readonly onMembership = (kind: 'uid' | 'group', name: string, present: boolean): void => {
    const route: ClusterRoute = { kind, name };
    const key = routeKey(route);
    if (present) {
      if (!this.routes.has(key)) {
        const confirmed = this.transport.subscribe(route).catch((error: unknown) => this.onFailure(`subscribe to ${key}`, error));
        this.routes.set(key, { route, confirmed });
      }
    } else if (this.routes.delete(key)) {
      void this.transport.unsubscribe(route);
    }
    this.directory.host(this.nodeId, kind, name, present).catch((error: unknown) => {
      this.onFailure(`${present ? 'host' : 'unhost'} ${key}`, error);
    });
  };

  /**
   * Resolves once this node listens on the route of `uid` or `group` (a bind resolves only then, so a push sent
   * right after it is heard); at once when the route is not subscribed or the listener is reconnecting.
   */
  ready(kind: 'uid' | 'group', name: string): Promise<void> {
    const entry = this.routes.get(routeKey({ kind, name }));
    if (!entry || !this.transport.listening) return Promise.resolve();
    return entry.confirmed;
  }

  /** Every uid and group route this node listens on (the resync subscribes them again). */
  all(): ClusterRoute[] {
    return [...this.routes.values()].map((entry) => entry.route);
  }
}

function routeKey(route: ClusterRoute): string {
  switch (route.kind) {
    case 'node':
      return `n:${route.node}`;
    case 'all':
      return 'all';
    default:
      return `${route.kind === 'uid' ? 'u' : 'g'}:${route.name}`;
  }
}

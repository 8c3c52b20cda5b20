import { within } from '../../util/within';
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
    /** Called when a subscription or a directory write failed (or a confirmation timed out): the resync must run. */
    private readonly onFailure: (what: string, error: unknown) => void,
    /** How long a bind waits for its subscription to be confirmed before it resolves anyway, in ms. */
    private readonly confirmWithin: number,
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
        const confirmed = this.transport.subscribe(route);
        // A refused or unanswered subscribe is never silent: counted, logged, and the resync subscribes again.
        confirmed.catch((error: unknown) => this.onFailure(`subscribe to ${key}`, error));
        this.routes.set(key, { route, confirmed: confirmed.catch(() => undefined) });
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
   * right after it is heard); at once when the route is not subscribed or the listener is reconnecting; and after
   * `confirmWithin` at most (then counted and left to the resync, like a refused subscribe), so that a reply the
   * backend never sends cannot hold the connection's later writes forever.
   */
  ready(kind: 'uid' | 'group', name: string): Promise<void> {
    const key = routeKey({ kind, name });
    const entry = this.routes.get(key);
    if (!entry || !this.transport.listening) return Promise.resolve();
    return within(entry.confirmed, this.confirmWithin, `no confirmation within ${this.confirmWithin} ms`).catch(
      (error: unknown) => this.onFailure(`subscribe to ${key}`, error),
    );
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

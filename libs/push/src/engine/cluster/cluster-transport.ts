/** Where a node-to-node message goes: one node, the nodes that host a uid or a group, or every node. */
export type ClusterRoute =
  | { kind: 'node'; node: string }
  | { kind: 'uid'; name: string }
  | { kind: 'group'; name: string }
  | { kind: 'all' };

/**
 * The messaging half of a cluster backend: how nodes reach each other. A backend for another broker implements this
 * and `ClusterDirectory`; `ClusterEngine` does everything else (local delivery, request/reply, subscriptions that
 * follow the local members, liveness, resync). Payloads are opaque bytes (see `cluster-message.ts`).
 *
 * The `publishTo*` methods resolve to how many connections the directory counts behind the route, read atomically
 * with the publish where the backend can (the Redis backend does both in one script), and reject when the backend
 * cannot be reached. The connections may reconnect on their own; `onReconnect` tells the engine, which resyncs.
 */
export interface ClusterTransport {
  /**
   * Connects, and starts listening on this node's own route and on `all`. Every message that arrives, on any
   * route this node listens on, goes to `onMessage` with that route. Rejects when the backend cannot be reached.
   */
  start(node: string, onMessage: (route: ClusterRoute, payload: Buffer) => void): Promise<void>;
  /** Stops listening and disconnects. */
  close(): Promise<void>;

  /** Whether the listening side is connected now. */
  readonly listening: boolean;
  /** Resolves once the listening side is connected; rejects after `timeoutMs`. */
  whenListening(timeoutMs: number): Promise<void>;
  /**
   * Called each time a connection to the backend is back after a loss (not on the first start): the backend may
   * have lost its data, or the listener its subscriptions, so the engine resyncs.
   */
  onReconnect(callback: () => void): void;
  /** Drops and reconnects the listening side: it was found deaf (see `Liveness`). */
  reconnectListener(): void;

  /**
   * Listens on a uid's or a group's route. Resolves once the backend confirmed it; rejects when it refused. A request
   * made while the listener is reconnecting may wait for the reconnect (the engine bounds every wait).
   */
  subscribe(route: ClusterRoute): Promise<void>;
  /** Stops listening on a route. Never rejects. */
  unsubscribe(route: ClusterRoute): Promise<void>;
  /** Listens on every one of these routes, each confirmed by the backend (the resync's first step). */
  resubscribe(routes: ClusterRoute[]): Promise<void>;

  /** Publishes to the nodes that host `uid`; resolves to the uid's connection count. */
  publishToUid(uid: string, payload: Buffer): Promise<number>;
  /** Publishes to the nodes that host `group`; resolves to its member count minus the excluded members. */
  publishToGroup(group: string, payload: Buffer, excluded: readonly string[]): Promise<number>;
  /** Publishes to every node; resolves to the connection count minus the excluded connections. */
  publishToAll(payload: Buffer, excluded: readonly string[]): Promise<number>;
  /**
   * Publishes to one node. With `clientIds`, resolves to how many of them the directory says that node holds (and
   * publishes only when there is one); without, to how many listeners received it (0: nobody listens there).
   */
  publishToNode(node: string, payload: Buffer, clientIds?: readonly string[]): Promise<number>;
  /** Empties a group in the directory and tells its nodes (`payload`); resolves to how many members it had. */
  dissolveGroup(group: string, payload: Buffer): Promise<number>;
}

import { connect, createServer, type Server, type Socket } from 'node:net';
import { ProxyConnection } from './tcp-proxy';

/**
 * A TCP load balancer on 127.0.0.1:0 in front of the example app's nodes, that the test controls: each new
 * connection goes to the next target that accepts it (round robin, skipping a target that refuses), so a node being
 * restarted is simply skipped; the test changes the targets as nodes come and go, and can cut the network (existing
 * connections black-holed, new ones refused) and heal it.
 */
export class TcpBalancer {
  /** Refuse new connections (the network is cut). */
  refusing = false;
  private targets: number[] = [];
  private next = 0;
  private readonly live = new Set<ProxyConnection>();
  private seq = 0;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(targets: number[]): Promise<TcpBalancer> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const balancer = new TcpBalancer(server, (server.address() as { port: number }).port);
    balancer.setTargets(targets);
    server.on('connection', (socket) => balancer.accept(socket));
    return balancer;
  }

  /** `ws://127.0.0.1:PORT/ws` */
  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  /** `http://127.0.0.1:PORT` */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Open connections. */
  get connections(): ProxyConnection[] {
    return [...this.live];
  }

  /** Where new connections go from now on. */
  setTargets(ports: number[]): void {
    this.targets = [...ports];
    this.next = 0;
  }

  /** Black-holes every open WebSocket (no FIN, no RST), closes the rest, and refuses new connections. */
  cut(): void {
    this.refusing = true;
    for (const conn of this.live) {
      if (conn.isWebSocket) conn.blackhole();
      else conn.destroy();
    }
  }

  heal(): void {
    this.refusing = false;
  }

  async close(): Promise<void> {
    const closing = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const conn of this.live) conn.destroy();
    await Promise.all([...this.live].map((c) => c.closed));
    await closing;
  }

  private accept(client: Socket): void {
    client.on('error', () => undefined);
    if (this.refusing || this.targets.length === 0) {
      client.destroy();
      return;
    }
    client.pause(); // what it sends waits until a target accepted
    const order = this.targets.map((_, i) => this.targets[(this.next + i) % this.targets.length]);
    this.next = (this.next + 1) % this.targets.length;
    const attempt = (i: number): void => {
      if (i >= order.length || client.destroyed) {
        client.destroy();
        return;
      }
      const upstream = connect(order[i], '127.0.0.1');
      upstream.once('error', () => attempt(i + 1));
      upstream.once('connect', () => {
        upstream.removeAllListeners('error');
        upstream.setNoDelay(true);
        client.setNoDelay(true);
        const conn = new ProxyConnection(++this.seq, client, upstream, (c) => this.live.delete(c));
        this.live.add(conn);
        client.resume();
      });
    };
    attempt(0);
  }
}

import { connect, createServer, type Server, type Socket } from 'node:net';

/** What the proxy does with a connection accepted from now on. */
export type NewConnectionMode =
  /** Connect to the target and forward both ways (the default). */
  | 'forward'
  /** Accept, then close at once (the target looks down, or refuses: a client keeps retrying). */
  | 'reject'
  /** Accept and never answer nor close (a peer that vanished before the handshake completed). */
  | 'blackhole';

/** One command a client sent (RESP: an array of bulk strings), with its exact bytes. */
export interface RespCommand {
  /** The command's name in lower case (`subscribe`, `evalsha`, …). */
  name: string;
  raw: Buffer;
}

/**
 * One client connection through the proxy. The client → target direction is parsed into RESP commands, so a
 * test can tell a subscriber connection from a command connection, and can hold commands back (in order) and
 * release them later; the target → client direction is forwarded as it comes.
 */
export class ProxyConnection {
  /** A SUBSCRIBE (or PSUBSCRIBE/SSUBSCRIBE) went through this connection. */
  subscriber = false;
  /** Nothing passes either way any more, and neither side is told (no FIN, no RST): a silent partition. */
  blackholed = false;
  /** Client commands are held (in order) instead of forwarded; see `holdWhen`, `release` and `resume`. */
  paused = false;
  /** Commands held back while paused, oldest first. */
  readonly held: RespCommand[] = [];
  /** Every command the client has sent so far (names only, oldest first; bounded to the last 10 000). */
  readonly names: string[] = [];
  /** The start of the first bytes the client sent (up to 2 KiB, as latin1): tells an HTTP request from a WebSocket. */
  opening = '';
  readonly closed: Promise<void>;
  private pending: Buffer = Buffer.alloc(0);
  private parseable = true;
  private holdRule: { match: (cmd: RespCommand) => boolean; resolve: (cmd: RespCommand) => void } | null = null;
  private isClosed = false;

  constructor(
    readonly id: number,
    readonly client: Socket,
    /** null for a connection accepted in 'reject' or 'blackhole' mode. */
    readonly upstream: Socket | null,
    private readonly forget: (conn: ProxyConnection) => void,
  ) {
    this.closed = new Promise((resolve) => {
      let open = upstream ? 2 : 1;
      const closedOne = () => {
        if (--open > 0) return;
        this.isClosed = true;
        this.forget(this);
        resolve();
      };
      client.once('close', closedOne);
      upstream?.once('close', closedOne);
    });
    client.on('error', () => undefined);
    upstream?.on('error', () => undefined);
    client.on('data', (chunk: Buffer) => this.fromClient(chunk));
    upstream?.on('data', (chunk: Buffer) => {
      if (!this.blackholed) client.write(chunk);
    });
    // A close on either side reaches the other, unless the connection is blackholed (a partition hides it).
    client.once('close', () => {
      if (!this.blackholed) upstream?.destroy();
    });
    upstream?.once('close', () => {
      if (!this.blackholed) client.destroy();
    });
  }

  /** The local port of the proxy's connection to the target: the `addr` Redis shows for it in CLIENT LIST. */
  get upstreamPort(): number | undefined {
    return this.upstream?.localPort;
  }

  get isOpen(): boolean {
    return !this.isClosed;
  }

  /** Stops forwarding both ways, for good, without closing either side. */
  blackhole(): void {
    this.blackholed = true;
    this.held.length = 0;
  }

  /**
   * Holds client commands from the first one that matches (included) on: it and everything after it wait, in
   * order, until `release` or `resume`. Resolves with the matching command.
   */
  holdWhen(match: (cmd: RespCommand) => boolean): Promise<RespCommand> {
    return new Promise((resolve) => {
      this.holdRule = { match, resolve };
    });
  }

  /** Holds every client command from now on. */
  pause(): void {
    this.paused = true;
  }

  /** Forwards held commands from the oldest while `keep(cmd)` is true, and stays paused. Returns how many. */
  release(keep: (cmd: RespCommand) => boolean = () => true): number {
    let n = 0;
    while (n < this.held.length && keep(this.held[n])) n++;
    const out = this.held.splice(0, n);
    if (out.length && !this.blackholed) this.upstream?.write(Buffer.concat(out.map((c) => c.raw)));
    return n;
  }

  /** Forwards everything held and stops holding. */
  resume(): void {
    this.holdRule = null;
    this.release();
    this.paused = false;
  }

  /** True when a held command contains `token`. */
  heldIncludes(token: string | Buffer): boolean {
    return this.held.some((cmd) => cmd.raw.includes(token));
  }

  /** Closes both sides now (as a crash of the path would, with a FIN/RST to each). */
  destroy(): void {
    this.client.destroy();
    this.upstream?.destroy();
  }

  /** Whether the client opened this connection with a WebSocket upgrade. */
  get isWebSocket(): boolean {
    return /^GET [^\r\n]* HTTP\/1\.1\r\n/.test(this.opening) && /\r\nupgrade: *websocket\r\n/i.test(this.opening);
  }

  private fromClient(chunk: Buffer): void {
    if (this.opening.length < 2048) this.opening += chunk.toString('latin1', 0, 2048 - this.opening.length);
    if (this.blackholed) {
      this.sniff(chunk);
      return;
    }
    if (!this.parseable) {
      this.upstream?.write(chunk);
      return;
    }
    const out: Buffer[] = [];
    for (const cmd of this.parse(chunk)) {
      if (this.holdRule?.match(cmd)) {
        const { resolve } = this.holdRule;
        this.holdRule = null;
        this.paused = true;
        resolve(cmd);
      }
      if (this.paused) this.held.push(cmd);
      else out.push(cmd.raw);
    }
    if (!this.parseable && this.pending.length) {
      // Not RESP after all: forward the rest untouched from now on.
      out.push(this.pending);
      this.pending = Buffer.alloc(0);
    }
    if (out.length) this.upstream?.write(out.length === 1 ? out[0] : Buffer.concat(out));
  }

  /** Keeps recognising SUBSCRIBE on a blackholed connection, so that it still reads as the subscriber. */
  private sniff(chunk: Buffer): void {
    if (this.parseable) for (const _ of this.parse(chunk));
  }

  private *parse(chunk: Buffer): Generator<RespCommand> {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    let offset = 0;
    for (;;) {
      const parsed = parseCommand(this.pending, offset);
      if (parsed === 'invalid') {
        this.parseable = false;
        break;
      }
      if (!parsed) break;
      const cmd = { name: parsed.name, raw: this.pending.subarray(offset, parsed.end) };
      offset = parsed.end;
      if (cmd.name === 'subscribe' || cmd.name === 'psubscribe' || cmd.name === 'ssubscribe') this.subscriber = true;
      this.names.push(cmd.name);
      if (this.names.length > 10_000) this.names.splice(0, 5_000);
      yield cmd;
    }
    this.pending = offset >= this.pending.length ? Buffer.alloc(0) : Buffer.from(this.pending.subarray(offset));
  }
}

/**
 * A TCP proxy on 127.0.0.1:0 in front of a test's redis-server, that the test controls: it can blackhole a
 * connection (stop forwarding both ways without closing either side, as a silent network partition does),
 * hold and release a connection's commands, close connections, and choose what happens to new connections
 * (forward, reject, blackhole). Connections accepted later are forwarded normally unless told otherwise.
 */
export class TcpProxy {
  /** What happens to connections accepted from now on. */
  mode: NewConnectionMode = 'forward';
  private readonly live = new Set<ProxyConnection>();
  private seq = 0;

  private constructor(
    private readonly server: Server,
    readonly port: number,
    readonly targetPort: number,
    readonly targetHost: string,
  ) {}

  static async start(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as { port: number };
    const proxy = new TcpProxy(server, port, targetPort, targetHost);
    server.on('connection', (socket) => proxy.accept(socket));
    return proxy;
  }

  /** `redis://127.0.0.1:PORT` (append `/db` for a database). */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Open connections, oldest first. */
  get connections(): ProxyConnection[] {
    return [...this.live];
  }

  /** The open connections that have sent a SUBSCRIBE. */
  subscribers(): ProxyConnection[] {
    return this.connections.filter((c) => c.subscriber);
  }

  /** The first open connection that matches, waiting for one (polled every 10 ms) up to `ms`. */
  async waitFor(match: (conn: ProxyConnection) => boolean, ms = 5000): Promise<ProxyConnection> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.connections.find((c) => c.isOpen && match(c));
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no proxied connection matched within ${ms} ms`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** Closes every connection and stops listening. */
  async close(): Promise<void> {
    const closing = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const conn of this.live) conn.destroy();
    await Promise.all([...this.live].map((c) => c.closed));
    await closing;
  }

  private accept(client: Socket): void {
    client.setNoDelay(true);
    const id = ++this.seq;
    const forget = (conn: ProxyConnection) => this.live.delete(conn);
    if (this.mode === 'reject') {
      client.on('error', () => undefined);
      client.destroy();
      return;
    }
    const upstream = this.mode === 'forward' ? connect(this.targetPort, this.targetHost) : null;
    upstream?.setNoDelay(true);
    const conn = new ProxyConnection(id, client, upstream, forget);
    if (this.mode === 'blackhole') conn.blackhole();
    this.live.add(conn);
  }
}

/**
 * Parses one RESP command (an array of bulk strings, which is all a Redis client library sends) at `offset`:
 * its end and its name, null when incomplete, 'invalid' when the bytes are not a RESP array.
 */
function parseCommand(buf: Buffer, offset: number): { end: number; name: string } | null | 'invalid' {
  if (offset >= buf.length) return null;
  if (buf[offset] !== 0x2a /* '*' */) return 'invalid';
  let lineEnd = buf.indexOf('\r\n', offset);
  if (lineEnd < 0) return null;
  const count = Number(buf.toString('latin1', offset + 1, lineEnd));
  if (!Number.isInteger(count) || count < 0) return 'invalid';
  let pos = lineEnd + 2;
  let name = '';
  for (let i = 0; i < count; i++) {
    if (pos >= buf.length) return null;
    if (buf[pos] !== 0x24 /* '$' */) return 'invalid';
    lineEnd = buf.indexOf('\r\n', pos);
    if (lineEnd < 0) return null;
    const len = Number(buf.toString('latin1', pos + 1, lineEnd));
    if (!Number.isInteger(len) || len < 0) return 'invalid';
    const start = lineEnd + 2;
    if (buf.length < start + len + 2) return null;
    if (i === 0) name = buf.toString('latin1', start, start + len).toLowerCase();
    pos = start + len + 2;
  }
  return { end: pos, name };
}

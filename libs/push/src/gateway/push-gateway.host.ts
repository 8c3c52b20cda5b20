import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
} from '@nestjs/common';
import type { OnGatewayConnection, OnGatewayInit } from '@nestjs/websockets';
import { parse as parseCookies } from 'cookie';
import type { IncomingMessage } from 'node:http';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { InitialBinding, PushEngine } from '../engine/push.engine';
import { createClientId } from '../identity/client-id';
import type { PushAuthResult } from '../interfaces/push-module-options.interface';
import { isPlainObject } from '../util/deep-merge';
import { LocalConnection } from '../local/local-connection';
import { LocalRegistry } from '../local/local-registry';
import { EncodedMessage } from '../message/encoded-message';
import { PUSH_LOCAL_REGISTRY, PUSH_RESOLVED_OPTIONS } from '../push.constants';
import { PushEvents } from '../push-events.service';
import { PushMetrics } from '../push-metrics.service';
import type { ResolvedPushOptions } from '../push-options';

/** The argument ws hands to `verifyClient`. */
interface UpgradeInfo {
  origin: string;
  secure: boolean;
  req: IncomingMessage;
}
type VerifyCallback = (ok: boolean, code?: number, message?: string, headers?: Record<string, string>) => void;

/** Where a socket keeps its connection, so one set of handlers serves every socket. */
const CONNECTION = Symbol('push:connection');
type TaggedSocket = WebSocket & { [CONNECTION]?: LocalConnection };
interface SocketHandlers {
  pong(this: TaggedSocket): void;
  message(this: TaggedSocket, data: RawData, isBinary: boolean): void;
  error(this: TaggedSocket, error: Error & { code?: string }): void;
  close(this: TaggedSocket, code: number): void;
}

/** How many ticks one heartbeat interval is spread over. */
const HEARTBEAT_SLICES = 10;

/** Codes of the `{"type":"error"}` frames sent back for a frame the gateway refuses. */
export type PushFrameErrorCode = 'bad_json' | 'bad_frame' | 'unknown_event' | 'binary_unsupported' | 'inbound_disabled';

/**
 * The socket side of the module. `PushModule.forRoot()` subclasses it with `@WebSocketGateway(port, { path })`
 * so the path can come from options. It accepts upgrades (origin and `authenticate` checks before the 101),
 * assigns client_ids, sends init, runs the heartbeat, enforces limits, turns frames and closes into events, and
 * drains connections with 1001 on shutdown. It never routes a push: that is the engine's job.
 */
@Injectable()
export class PushGatewayHost implements OnGatewayInit<WebSocketServer>, OnGatewayConnection, BeforeApplicationShutdown {
  private readonly logger = new Logger('PushGateway');
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private sweepCursor: IterableIterator<LocalConnection> | null = null;
  private shuttingDown = false;
  private readonly upgrades = new WeakMap<IncomingMessage, InitialBinding>();
  private readonly pendingCloses = new Set<Promise<void>>();

  private readonly socketHandlers: SocketHandlers;

  constructor(
    private readonly engine: PushEngine,
    @Inject(PUSH_RESOLVED_OPTIONS) private readonly options: ResolvedPushOptions,
    @Inject(PUSH_LOCAL_REGISTRY) private readonly registry: LocalRegistry,
    private readonly events: PushEvents,
    private readonly metrics: PushMetrics,
  ) {
    const gateway = this;
    this.socketHandlers = {
      pong(this: TaggedSocket) {
        const conn = this[CONNECTION];
        if (conn) conn.lastSeen = Date.now();
      },
      message(this: TaggedSocket, data: RawData, isBinary: boolean) {
        const conn = this[CONNECTION];
        if (conn) gateway.onFrame(conn, data, isBinary);
      },
      error(this: TaggedSocket, error: Error & { code?: string }) {
        const conn = this[CONNECTION];
        if (conn && error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
          gateway.metrics.payloadTooLarge++;
          conn.closedBy ??= { reason: 'payload-too-large', code: 1009 };
        }
      },
      close(this: TaggedSocket, code: number) {
        const conn = this[CONNECTION];
        if (conn) gateway.trackClose(gateway.onClose(conn, code));
      },
    };
  }

  /** Nest hands over the ws server once it exists: limits, upgrade checks and the heartbeat are set up here. */
  afterInit(server: WebSocketServer): void {
    // ws reads these on every upgrade. They are set here rather than in the decorator because they come from
    // the module options, which may be resolved asynchronously and through dependency injection.
    server.options.maxPayload = this.options.maxPayload;
    server.options.perMessageDeflate = false;
    server.options.verifyClient = (info: UpgradeInfo, done: VerifyCallback) => this.verifyUpgrade(info, done);
    const heartbeat = this.options.heartbeat;
    if (heartbeat) {
      // The sweep is spread over the interval: each tick visits its share of the connections, so 10k sockets
      // cost ten short pauses a second instead of one long stall every interval.
      const tick = Math.max(10, Math.floor(heartbeat.interval / HEARTBEAT_SLICES));
      this.heartbeatTimer = setInterval(() => this.sweep(heartbeat, tick), tick);
      this.heartbeatTimer.unref();
    }
  }

  /** A socket passed the upgrade checks: give it a client_id, register it, send init, emit `connect`. */
  handleConnection(socket: WebSocket, request: IncomingMessage): void {
    const conn = new LocalConnection(createClientId(this.engine.nodeId), socket, request.socket.remoteAddress);
    this.metrics.connectionsOpened++;
    (socket as TaggedSocket)[CONNECTION] = conn;
    // Shared handlers that find their connection on the socket: no closures per connection (memory per socket).
    socket.on('pong', this.socketHandlers.pong);
    socket.on('message', this.socketHandlers.message);
    socket.on('error', this.socketHandlers.error);
    socket.once('close', this.socketHandlers.close);
    const registration = this.engine.register(conn, this.upgrades.get(request)).then(
      () => true,
      (error: unknown) => {
        this.logger.error(`could not register ${conn.id}: ${(error as Error).message}`);
        this.registry.close(conn, 1011, 'engine-unavailable');
        return false;
      },
    );
    conn.registration = registration;
    void registration.then((ok) => {
      conn.registration = ok;
      if (!ok || socket.readyState !== WebSocket.OPEN) return;
      this.registry.write(conn, EncodedMessage.encode(this.options.initMessage(conn.id)));
      this.events.emit({
        type: 'connect',
        clientId: conn.id,
        remoteAddress: conn.remoteAddress,
        headers: request.headers,
        query: parseQuery(request.url),
        cookies: safeParseCookies(request.headers.cookie),
        uid: conn.uid,
      });
    });
  }

  /** Graceful shutdown: refuse new upgrades, close everyone with 1001, wait for them (bounded), cut the rest. */
  async beforeApplicationShutdown(): Promise<void> {
    this.shuttingDown = true;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    const open = [...this.registry.connections()];
    for (const conn of open) this.registry.close(conn, 1001, 'shutdown');
    // Each socket's close, then the close handling it started (unregister, close event).
    const drained = Promise.all(open.map((conn) => closedOf(conn.socket))).then(() => this.closesHandled());
    await Promise.race([drained, delay(this.options.shutdownTimeout)]);
    // Whoever did not finish the handshake in time is cut, so the engine can remove its entries now.
    for (const conn of this.registry.connections()) this.registry.destroy(conn, 'shutdown', 1001);
    await Promise.race([this.closesHandled(), delay(this.options.shutdownTimeout)]);
  }

  private verifyUpgrade(info: UpgradeInfo, done: VerifyCallback): void {
    if (this.shuttingDown) {
      this.metrics.rejectedUpgrades.shuttingDown++;
      return refuse(done, 503, 'shutting_down', 'the server is shutting down');
    }
    const allowed = this.options.allowedOrigins;
    if (allowed) {
      const origin = info.req.headers.origin;
      if (origin === undefined ? this.options.requireOrigin : !allowed(origin)) {
        this.metrics.rejectedUpgrades.origin++;
        return refuse(done, 403, 'origin_not_allowed', `origin ${origin ?? '(none)'} is not allowed`);
      }
    }
    const authenticate = this.options.authenticate;
    if (!authenticate) return done(true);
    Promise.resolve()
      .then(() => authenticate(info.req))
      .then(
        (result) => {
          const binding = this.toBinding(result);
          if (binding === null) {
            this.metrics.rejectedUpgrades.auth++;
            return refuse(done, 401, 'unauthorized', 'authentication required');
          }
          this.upgrades.set(info.req, binding);
          done(true);
        },
        (error: unknown) => {
          this.metrics.rejectedUpgrades.error++;
          this.logger.error(`authenticate hook failed: ${(error as Error)?.stack ?? String(error)}`);
          refuse(done, 500, 'auth_error', 'authentication failed');
        },
      );
  }

  private toBinding(result: PushAuthResult): InitialBinding | null {
    if (!result) return null;
    if (result === true) return {};
    const uid = result.uid;
    if (uid !== undefined && (typeof uid !== 'string' || uid.length === 0 || uid.length > this.options.maxIdLength)) {
      throw new Error(`authenticate returned an invalid uid`);
    }
    if (result.session !== undefined && !isPlainObject(result.session)) {
      throw new Error(`authenticate returned a session that is not a plain object`);
    }
    return { uid: uid ?? null, session: result.session };
  }

  private onFrame(conn: LocalConnection, data: RawData, isBinary: boolean): void {
    conn.lastSeen = Date.now();
    if (isBinary) return this.refuseFrame(conn, 'binary_unsupported', 'binary frames are not accepted');
    let frame: unknown;
    try {
      frame = JSON.parse(data.toString());
    } catch {
      return this.refuseFrame(conn, 'bad_json', 'frame is not valid JSON');
    }
    const type = isPlainObject(frame) ? frame.type : undefined;
    if (typeof type !== 'string') {
      return this.refuseFrame(conn, 'bad_frame', 'frame must be a JSON object with a string "type"');
    }
    switch (type) {
      case 'ping':
        return; // An application-level keep-alive from older clients: it already refreshed lastSeen.
      case 'message':
        if (!this.options.inbound) {
          return this.refuseFrame(conn, 'inbound_disabled', 'this channel is push-only');
        }
        this.events.emit({
          type: 'message',
          clientId: conn.id,
          uid: conn.uid,
          session: structuredClone(conn.session),
          data: (frame as { data?: unknown }).data ?? null,
        });
        return;
      default:
        return this.refuseFrame(conn, 'unknown_event', `unknown frame type "${type.slice(0, 64)}"`);
    }
  }

  private refuseFrame(conn: LocalConnection, code: PushFrameErrorCode, message: string): void {
    this.metrics.badFrames++;
    this.registry.write(conn, EncodedMessage.encode({ type: 'error', code, message }));
  }

  private async onClose(conn: LocalConnection, code: number): Promise<void> {
    const info = (await conn.registration)
      ? await this.engine.unregister(conn).catch((error: unknown) => {
          this.logger.error(`could not unregister ${conn.id}: ${(error as Error).message}`);
          return this.registry.remove(conn);
        })
      : this.registry.remove(conn);
    this.metrics.connectionsClosed++;
    this.events.emit({
      type: 'close',
      clientId: conn.id,
      uid: info.uid,
      groups: info.groups,
      session: info.session,
      code: conn.closedBy?.code ?? code,
      reason: conn.closedBy?.reason ?? 'peer',
    });
  }

  private closesHandled(): Promise<unknown> {
    return Promise.all([...this.pendingCloses]);
  }

  private trackClose(promise: Promise<void>): void {
    this.pendingCloses.add(promise);
    void promise.finally(() => this.pendingCloses.delete(promise));
  }

  /** Visits the next share of connections: drops the silent ones, pings the others. */
  private sweep(heartbeat: { interval: number; timeout: number }, tick: number): void {
    const size = this.registry.size;
    if (size === 0) return;
    const now = Date.now();
    const deadline = now - heartbeat.timeout;
    let quota = Math.ceil((size * tick) / heartbeat.interval);
    while (quota-- > 0) {
      let next = this.sweepCursor?.next();
      if (!next || next.done) {
        this.sweepCursor = this.registry.connections(); // a new pass (a Map iterator sees later additions)
        next = this.sweepCursor.next();
        if (next.done) return;
      }
      const conn = next.value;
      if (conn.socket.readyState !== WebSocket.OPEN) continue;
      if (conn.lastSeen < deadline) {
        this.metrics.heartbeatTimeouts++;
        this.registry.destroy(conn, 'heartbeat', 1006);
      } else if (now - conn.lastPing >= heartbeat.interval - tick) {
        conn.lastPing = now;
        conn.socket.ping();
      }
    }
  }
}

function refuse(done: VerifyCallback, status: number, code: string, message: string): void {
  const body = JSON.stringify({ statusCode: status, code, message });
  done(false, status, body, { 'Content-Type': 'application/json' });
}

function closedOf(socket: WebSocket): Promise<void> {
  if (socket.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((resolve) => socket.once('close', () => resolve()));
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

function parseQuery(url: string | undefined): Record<string, string> {
  const params = new URL(url ?? '/', 'http://localhost').searchParams;
  return Object.fromEntries(params.entries());
}

function safeParseCookies(header: string | undefined): Record<string, string> {
  if (!header) return {};
  try {
    const parsed = parseCookies(header);
    const out: Record<string, string> = {};
    for (const [key, value] of Object.entries(parsed)) if (value !== undefined) out[key] = value;
    return out;
  } catch {
    return {};
  }
}

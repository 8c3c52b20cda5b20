import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { OnGatewayConnection, OnGatewayInit } from '@nestjs/websockets';
import { parse as parseCookies } from 'cookie';
import type { IncomingMessage } from 'node:http';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { InitialBinding, PushEngine } from '../engine/push.engine';
import type { HistoryOffset } from '../history/history-offset';
import { createClientId } from '../identity/client-id';
import type { PushAuthResult } from '../interfaces/push-module-options.interface';
import { isPlainObject } from '../util/deep-merge';
import { isWellFormedString } from '../util/well-formed';
import { releaseFrameBuffers } from './frame-buffers';
import { HeartbeatWheel } from './heartbeat-wheel';
import { LocalConnection, type ServerCloseReason } from '../local/local-connection';
import { LocalRegistry } from '../local/local-registry';
import { EncodedMessage } from '../message/encoded-message';
import { PUSH_DEFAULTS, PUSH_LOCAL_REGISTRY, PUSH_RESOLVED_OPTIONS } from '../push.constants';
import { PushEvents } from '../push-events.service';
import { PushMetrics } from '../push-metrics.service';
import type { ResolvedPushOptions } from '../push-options';
import {
  HEARTBEAT_FRAME,
  parseHello,
  PUSH_PROTOCOL,
  PushCloseCode,
  welcomeFrame,
  type HelloFrame,
  type ResumeRefusal,
  type Welcome,
} from '../resume/push-protocol';
import { newResumeState, ResumeHandshake } from '../resume/resume-handshake';
import { formatResumeToken } from '../resume/resume-token';

/** The argument ws hands to `verifyClient`. */
interface UpgradeInfo {
  origin: string;
  secure: boolean;
  req: IncomingMessage;
}
type VerifyCallback = (ok: boolean, code?: number, message?: string, headers?: Record<string, string>) => void;

/** Where a socket keeps its connection, so one set of handlers serves every socket. */
const CONNECTION = Symbol('push:connection');
/** Where a socket on the resumable protocol keeps its upgrade until its hello arrives. */
const HELLO = Symbol('push:hello');
/** The address a socket holds a slot of (see `reserve`), released when it closes. */
const SLOT = Symbol('push:slot');
interface AwaitingHello {
  request: IncomingMessage;
  timer: NodeJS.Timeout;
}
type TaggedSocket = WebSocket & {
  [CONNECTION]?: LocalConnection;
  [HELLO]?: AwaitingHello | null;
  [SLOT]?: string | undefined;
};
interface SocketHandlers {
  ping(this: TaggedSocket, data: Buffer): void;
  pong(this: TaggedSocket): void;
  message(this: TaggedSocket, data: RawData, isBinary: boolean): void;
  error(this: TaggedSocket, error: Error & { code?: string }): void;
  close(this: TaggedSocket, code: number): void;
}

/** How many ticks one heartbeat interval is spread over. */
const HEARTBEAT_SLICES = 10;

/**
 * Endpoints (port and path) claimed by a push gateway, per HTTP server: a second `PushModule.forRoot()` on the
 * same endpoint would answer every socket twice with two different client_ids, and is refused at start-up.
 */
const claimedEndpoints = new WeakMap<object, Set<string>>();

/** Codes of the `{"type":"error"}` frames sent back for a frame the gateway refuses. */
export type PushFrameErrorCode = 'bad_json' | 'bad_frame' | 'unknown_event' | 'binary_unsupported' | 'inbound_disabled';

/**
 * The socket side of the module. `PushModule.forRoot()` subclasses it with `@WebSocketGateway(port, { path })`
 * so the path can come from options. It accepts upgrades (origin and `authenticate` checks before the 101),
 * assigns client_ids, sends init, runs the heartbeat, enforces limits, turns frames and closes into events, and
 * drains connections with 1001 on shutdown. It never routes a push: that is the engine's job.
 */
@Injectable()
export class PushGatewayHost
  implements OnGatewayInit<WebSocketServer>, OnGatewayConnection, OnModuleInit, BeforeApplicationShutdown
{
  /** Where this gateway listens; `createPushGateway` sets it on the decorated subclass. */
  static readonly endpoint: { path: string; port: number } = { path: '/ws', port: 0 };

  private readonly logger = new Logger('PushGateway');
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private readonly wheel = new HeartbeatWheel<LocalConnection>(HEARTBEAT_SLICES);
  /** Open sockets per remote address, plus upgrades of that address still in `authenticate`. */
  private readonly perAddress = new Map<string, number>();
  /** Open sockets, plus upgrades still in `authenticate`. */
  private held = 0;
  private claim: { server: object; key: string } | null = null;
  /** When the next slot of the heartbeat wheel is due (wall clock, so late timers catch up). */
  private nextSliceAt = 0;
  private shuttingDown = false;
  private readonly upgrades = new WeakMap<IncomingMessage, InitialBinding>();
  private readonly pendingCloses = new Set<Promise<void>>();

  private readonly socketHandlers: SocketHandlers;
  /** Resume and recovery for the resumable protocol; null when they are off (or the engine keeps no history). */
  private readonly handshake: ResumeHandshake | null;
  /** How long a client of the resumable protocol may take to send its hello. */
  private readonly helloTimeout: number;

  constructor(
    private readonly engine: PushEngine,
    @Inject(PUSH_RESOLVED_OPTIONS) private readonly options: ResolvedPushOptions,
    @Inject(PUSH_LOCAL_REGISTRY) private readonly registry: LocalRegistry,
    private readonly events: PushEvents,
    private readonly metrics: PushMetrics,
    private readonly adapterHost: HttpAdapterHost,
  ) {
    const gateway = this;
    const resume = options.resume;
    this.helloTimeout = resume ? resume.helloTimeout : PUSH_HELLO_TIMEOUT;
    this.handshake =
      resume && engine.resumable
        ? new ResumeHandshake(engine, registry, (conn, secret, welcome) => this.welcome(conn, secret, welcome), metrics)
        : null;
    this.socketHandlers = {
      ping(this: TaggedSocket, data: Buffer) {
        releaseFrameBuffers(this);
        // ws's automatic pong is off (see afterInit): this one is subject to the send-queue cap. A ping does not
        // count as liveness: a peer that sends but never reads is not healthy.
        const conn = this[CONNECTION];
        if (conn) gateway.registry.control(conn, 'pong', data);
      },
      pong(this: TaggedSocket) {
        releaseFrameBuffers(this);
        const conn = this[CONNECTION];
        if (conn) conn.lastSeen = Date.now();
      },
      message(this: TaggedSocket, data: RawData, isBinary: boolean) {
        releaseFrameBuffers(this);
        const conn = this[CONNECTION];
        if (conn) gateway.onFrame(conn, data, isBinary);
        else if (this[HELLO]) gateway.onHello(this, data, isBinary);
        else gateway.metrics.badFrames++; // before its welcome (a resume in progress): dropped, counted
      },
      error(this: TaggedSocket, error: Error & { code?: string }) {
        const conn = this[CONNECTION];
        if (conn && error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
          gateway.metrics.payloadTooLarge++;
          conn.closedBy ??= { reason: 'payload-too-large', code: 1009 };
        }
      },
      close(this: TaggedSocket, code: number) {
        // Once, like `once` (ws emits it once), without the wrapper `once` allocates per socket (~140 B of heap).
        this.removeListener('close', gateway.socketHandlers.close);
        gateway.release(this[SLOT]);
        const hello = this[HELLO];
        if (hello) clearTimeout(hello.timer);
        this[HELLO] = null;
        const conn = this[CONNECTION];
        // A socket replaced by a resume no longer speaks for its connection.
        if (!conn || conn.socket !== this) return;
        gateway.wheel.delete(conn);
        gateway.trackClose(gateway.onClose(conn, code));
      },
    };
  }

  /** Refuses a second push gateway on the same endpoint of the same HTTP server, before anything is served. */
  onModuleInit(): void {
    const { path, port } = (this.constructor as typeof PushGatewayHost).endpoint;
    const server: object | undefined = this.adapterHost?.httpAdapter?.getHttpServer?.();
    if (!server) return;
    const key = `${port}${path}`;
    let claimed = claimedEndpoints.get(server);
    if (!claimed) claimedEndpoints.set(server, (claimed = new Set()));
    if (claimed.has(key)) {
      throw new Error(
        `PushModule: a push gateway is already registered on path ${path}` +
          (port ? ` (port ${port})` : '') +
          ': PushModule.forRoot() was imported twice. Import it once (in AppModule) and reach PushService from ' +
          'other modules with isGlobal: true, or through a shared module that re-exports PushModule.',
      );
    }
    claimed.add(key);
    this.claim = { server, key };
  }

  /** Nest hands over the ws server once it exists: limits, upgrade checks and the heartbeat are set up here. */
  afterInit(server: WebSocketServer): void {
    // ws reads these on every upgrade. They are set here rather than in the decorator because they come from
    // the module options, which may be resolved asynchronously and through dependency injection.
    server.options.maxPayload = this.options.maxPayload;
    server.options.perMessageDeflate = false;
    // Pongs are sent by the gateway (socketHandlers.ping), under the send-queue cap like every other write.
    server.options.autoPong = false;
    // The resumable protocol when the client offers it (the official client does); otherwise what ws would pick.
    server.options.handleProtocols = (protocols: Set<string>) =>
      protocols.has(PUSH_PROTOCOL) ? PUSH_PROTOCOL : (protocols.values().next().value ?? false);
    server.options.verifyClient = (info: UpgradeInfo, done: VerifyCallback) => this.verifyUpgrade(info, done);
    const heartbeat = this.options.heartbeat;
    if (heartbeat) {
      // One slot of the wheel per tick: each connection is visited once per interval, whatever the churn.
      const tick = Math.max(10, Math.floor(heartbeat.interval / HEARTBEAT_SLICES));
      this.nextSliceAt = Date.now() + tick;
      this.heartbeatTimer = setInterval(() => this.sweep(heartbeat, tick), tick);
      this.heartbeatTimer.unref();
    }
  }

  /**
   * A socket passed the upgrade checks. A plain one gets a client_id, is registered, and is sent its init frame; one
   * on the resumable protocol first says hello (fresh, or resuming a connection that dropped).
   */
  handleConnection(socket: WebSocket, request: IncomingMessage): void {
    const tagged = socket as TaggedSocket;
    tagged[SLOT] = request.socket.remoteAddress;
    this.reserve(tagged[SLOT]);
    // Shared handlers that find their connection on the socket: no closures per connection (memory per socket).
    socket.on('ping', this.socketHandlers.ping);
    socket.on('pong', this.socketHandlers.pong);
    socket.on('message', this.socketHandlers.message);
    socket.on('error', this.socketHandlers.error);
    socket.on('close', this.socketHandlers.close); // removed by itself
    if (socket.protocol === PUSH_PROTOCOL) {
      const timer = setTimeout(() => this.badHello(tagged, `no hello within ${this.helloTimeout} ms`), this.helloTimeout);
      timer.unref();
      tagged[HELLO] = { request, timer };
      return;
    }
    const conn = new LocalConnection(createClientId(this.engine.nodeId), socket, request.socket.remoteAddress);
    this.accept(conn, request, () => EncodedMessage.encode(this.options.initMessage(conn.id)));
  }

  /** Registers a new connection, then sends its first frame (init, or welcome) and emits `connect`. */
  private accept(conn: LocalConnection, request: IncomingMessage, firstFrame: () => EncodedMessage): void {
    const socket = conn.socket;
    this.metrics.connectionsOpened++;
    (socket as TaggedSocket)[CONNECTION] = conn;
    if (this.heartbeatTimer) this.wheel.add(conn);
    const registration = this.engine.register(conn, this.upgrades.get(request)).then(
      () => true,
      (error: unknown) => {
        this.logger.error(`could not register ${conn.id}: ${(error as Error).message}`);
        this.registry.close(conn, 1011, 'engine-unavailable');
        return false;
      },
    );
    conn.registration = registration;
    void registration.then(async (ok) => {
      conn.registration = ok;
      if (!ok || socket.readyState !== WebSocket.OPEN) return;
      if (conn.resume) {
        // Its welcome comes first, then what was pushed to it since it was registered (collected meanwhile).
        const resume = conn.resume;
        const written = await this.registry.release(conn, socket, () => {
          resume.issued = true;
          this.registry.write(conn, firstFrame());
        }, NO_REPLAY);
        if (!written) return;
      } else {
        this.registry.write(conn, firstFrame());
      }
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

  /** The first frame of a socket on the resumable protocol. */
  private onHello(socket: TaggedSocket, data: RawData, isBinary: boolean): void {
    const awaiting = socket[HELLO]!;
    socket[HELLO] = null;
    clearTimeout(awaiting.timer);
    let hello: HelloFrame | string;
    try {
      hello = isBinary ? 'the hello must be a text frame' : parseHello(JSON.parse(data.toString()));
    } catch {
      hello = 'the hello is not valid JSON';
    }
    if (typeof hello === 'string') return this.badHello(socket, hello);
    const { request } = awaiting;
    if (hello.resume === undefined) return this.startFresh(socket, request);
    if (!this.handshake) {
      this.metrics.resumes.refused++;
      return this.startFresh(socket, request, 'not_found');
    }
    this.resumeSocket(socket, request, hello).catch((error: unknown) => {
      this.logger.error(`resume failed: ${(error as Error)?.stack ?? String(error)}`);
      if (socket.readyState === WebSocket.OPEN) socket.close(1011, 'resume-failed');
    });
  }

  /** A new connection on the resumable protocol (with why its resume was refused, when it asked for one). */
  private startFresh(socket: WebSocket, request: IncomingMessage, refusal?: ResumeRefusal): void {
    if (socket.readyState !== WebSocket.OPEN) return;
    const conn = new LocalConnection(createClientId(this.engine.nodeId), socket, request.socket.remoteAddress);
    const { state, secret } = newResumeState();
    conn.resume = state;
    this.accept(conn, request, () =>
      this.welcome(conn, secret, refusal === undefined ? undefined : { resumed: false, reason: refusal }),
    );
  }

  /** The welcome frame of a connection on the resumable protocol whose client holds `secret` from now on. */
  private readonly welcome = (conn: LocalConnection, secret: string, resume?: Welcome['resume']): EncodedMessage =>
    welcomeFrame({
      clientId: conn.id,
      token: formatResumeToken(conn.id, secret),
      heartbeat: this.options.heartbeat ? this.options.heartbeat.interval : 0,
      window: this.handshake && this.options.resume ? this.options.resume.window : 0,
      resume,
    });

  private async resumeSocket(socket: TaggedSocket, request: IncomingMessage, hello: HelloFrame): Promise<void> {
    const initial = this.upgrades.get(request);
    const outcome = await this.handshake!.resume(socket, hello, request.socket.remoteAddress, initial, (conn, moved) => {
      socket[CONNECTION] = conn;
      conn.registration = true;
      if (moved) this.metrics.connectionsOpened++;
      if (this.heartbeatTimer) {
        this.wheel.delete(conn);
        this.wheel.add(conn);
      }
    });
    switch (outcome.kind) {
      case 'refused':
        return this.startFresh(socket, request, outcome.reason);
      case 'retry':
        this.metrics.resumes.retried++;
        this.logger.warn(`resume deferred (the client tries again): ${outcome.message}`);
        if (socket.readyState === WebSocket.OPEN) socket.close(PushCloseCode.tryAgainLater, 'try-again-later');
        return;
      case 'gone':
        return;
      case 'dropped':
        // Its socket closed before it was attached (its close event saw no connection, nor left the wheel): it ends.
        this.wheel.delete(outcome.conn);
        return this.trackClose(this.onClose(outcome.conn, 1006));
      case 'resumed': {
        const { conn } = outcome;
        this.events.emit({
          type: 'resume',
          clientId: conn.id,
          previousClientId: outcome.previousClientId,
          uid: conn.uid,
          groups: [...conn.groups],
          session: structuredClone(conn.session),
          recovered: outcome.recovered,
        });
      }
    }
  }

  /** A client of the resumable protocol that did not say hello properly: closed with 1008, counted. */
  private badHello(socket: TaggedSocket, why: string): void {
    socket[HELLO] = null;
    this.metrics.resumes.badHellos++;
    if (socket.readyState !== WebSocket.OPEN) return;
    socket.close(PushCloseCode.badHello, `bad hello: ${why}`.slice(0, 120));
    setTimeout(() => socket.terminate(), 2000).unref();
  }

  /** Graceful shutdown: refuse new upgrades, close everyone with 1001, wait for them (bounded), cut the rest. */
  async beforeApplicationShutdown(): Promise<void> {
    this.shuttingDown = true;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.wheel.clear();
    if (this.claim) claimedEndpoints.get(this.claim.server)?.delete(this.claim.key);
    const open = [...this.registry.connections()];
    // Dropped resumable connections cannot resume on a node that is going away, unless the engine keeps them beyond
    // this process (a cluster engine: they resume on another node); here they end for good.
    const handsOver = this.handshake !== null && this.engine.handsOverOnShutdown;
    for (const conn of open) {
      if (this.registry.isDetached(conn)) {
        if (!handsOver) this.registry.endDetached(conn, 'shutdown');
        continue;
      }
      // 1012 tells a resumable client to resume elsewhere (or here, once the node is back) without delay.
      const code = conn.resume && handsOver ? PushCloseCode.serviceRestart : 1001;
      this.registry.close(conn, code, 'shutdown');
    }
    // Each socket's close, then the close handling it started (unregister, close event).
    const drained = Promise.all(open.map((conn) => closedOf(conn.socket))).then(() => this.closesHandled());
    await Promise.race([drained, delay(this.options.shutdownTimeout)]);
    // Whoever did not finish the handshake in time is cut, so the engine can remove its entries now.
    for (const conn of this.registry.connections()) this.registry.destroy(conn, 'shutdown', 1001);
    await Promise.race([this.closesHandled(), delay(this.options.shutdownTimeout)]);
    // The dropped connections left to other nodes: their windows end there (or in the reaper), not on timers here.
    for (const conn of this.registry.connections()) this.registry.stopWindow(conn);
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
    if (this.held >= this.options.maxConnections) {
      this.metrics.rejectedUpgrades.capacity++;
      const max = this.options.maxConnections;
      return refuse(done, 503, 'server_full', `this server holds its maximum of ${max} connections`);
    }
    const address = info.req.socket.remoteAddress;
    if ((this.perAddress.get(address ?? '') ?? 0) >= this.options.maxConnectionsPerAddress) {
      this.metrics.rejectedUpgrades.perAddress++;
      const max = this.options.maxConnectionsPerAddress;
      return refuse(done, 429, 'too_many_connections', `at most ${max} connections per address`);
    }
    const authenticate = this.options.authenticate;
    if (!authenticate) return done(true);
    // The slot is held while the hook runs, so a burst of slow upgrades cannot overshoot the limits.
    this.reserve(address);
    let settled = false;
    const settle = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      this.release(address);
      outcome();
    };
    const timeout = this.options.authenticateTimeout;
    const timer = Number.isFinite(timeout)
      ? setTimeout(
          () =>
            settle(() => {
              this.metrics.rejectedUpgrades.authTimeout++;
              this.logger.warn(`authenticate hook did not settle within ${timeout} ms: upgrade refused`);
              refuse(done, 503, 'auth_timeout', 'authentication timed out');
            }),
          timeout,
        )
      : null;
    Promise.resolve()
      .then(() => authenticate(info.req))
      .then(
        (result) =>
          settle(() => {
            let binding: InitialBinding | null;
            try {
              binding = this.toBinding(result);
            } catch (error) {
              return this.hookFailed(done, error);
            }
            if (binding === null) {
              this.metrics.rejectedUpgrades.auth++;
              return refuse(done, 401, 'unauthorized', 'authentication required');
            }
            this.upgrades.set(info.req, binding);
            done(true);
          }),
        (error: unknown) => settle(() => this.hookFailed(done, error)),
      );
  }

  private hookFailed(done: VerifyCallback, error: unknown): void {
    this.metrics.rejectedUpgrades.error++;
    this.logger.error(`authenticate hook failed: ${(error as Error)?.stack ?? String(error)}`);
    refuse(done, 500, 'auth_error', 'authentication failed');
  }

  /** Counts a connection (or an upgrade in `authenticate`) against `maxConnections` and its address's limit. */
  private reserve(address: string | undefined): void {
    this.held++;
    const key = address ?? '';
    this.perAddress.set(key, (this.perAddress.get(key) ?? 0) + 1);
  }

  private release(address: string | undefined): void {
    this.held--;
    const key = address ?? '';
    const left = (this.perAddress.get(key) ?? 1) - 1;
    if (left > 0) this.perAddress.set(key, left);
    else this.perAddress.delete(key);
  }

  private toBinding(result: PushAuthResult): InitialBinding | null {
    if (!result) return null;
    if (result === true) return {};
    const uid = result.uid;
    if (
      uid !== undefined &&
      (typeof uid !== 'string' || uid.length === 0 || uid.length > this.options.maxIdLength || !isWellFormedString(uid))
    ) {
      throw new Error(`authenticate returned an invalid uid`);
    }
    if (result.session !== undefined) {
      if (!isPlainObject(result.session)) throw new Error(`authenticate returned a session that is not a plain object`);
      this.registry.checkSession(JSON.stringify(result.session));
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
    const registered = await conn.registration;
    // Offered to a resume on another node (its socket was replaced): dropped like any other until that node releases
    // it, so that it can be resumed again if the offer lapses. One whose client holds no token for it ends.
    if (registered && conn.resume?.issued && (conn.resume.movedTo || this.detachable(conn, code))) {
      if (conn.resume.movedTo || this.roomToDetach(conn)) return this.detach(conn, code);
      this.metrics.resumes.overLimit++;
    }
    return this.finish(conn, conn.closedBy?.code ?? code, conn.closedBy?.reason ?? 'peer', registered);
  }

  /**
   * Whether a dropped connection is kept for a resume: only on the resumable protocol, and not when the client left
   * on purpose (1000, 1001) or the server closed it for good (the app, a hostile frame, an engine failure).
   */
  private detachable(conn: LocalConnection, code: number): boolean {
    if (!conn.resume || !this.handshake) return false;
    const reason = conn.closedBy?.reason;
    if (reason === undefined) return code !== 1000 && code !== 1001;
    if (reason === 'shutdown') return this.engine.handsOverOnShutdown;
    return reason === 'heartbeat' || reason === 'slow-consumer' || reason === 'history-gap';
  }

  /**
   * Whether this process may keep one more dropped connection: fewer than `resume.maxDetached` in all, and fewer than
   * `maxConnectionsPerAddress` from its address (a client that opens and drops connections in a loop would otherwise
   * pile them up for a whole window each).
   */
  private roomToDetach(conn: LocalConnection): boolean {
    const resume = this.options.resume;
    if (!resume) return false;
    return (
      this.registry.detachedCount < resume.maxDetached &&
      this.registry.detachedFrom(conn.remoteAddress) < this.options.maxConnectionsPerAddress
    );
  }

  /** Keeps a dropped resumable connection, with its bindings, for `resume.window`. */
  private async detach(conn: LocalConnection, code: number): Promise<void> {
    const closeCode = conn.closedBy?.code ?? code;
    const reason = conn.closedBy?.reason ?? 'peer';
    const until = Date.now() + (this.options.resume ? this.options.resume.window : 0);
    this.registry.detach(conn, until, (end) => this.trackClose(this.finish(conn, closeCode, end, true)));
    this.metrics.resumes.detached++;
    try {
      await this.engine.detach(conn);
    } catch (error) {
      this.logger.warn(`could not mark ${conn.id} resumable beyond this node: ${(error as Error).message}`);
    }
    const info = this.registry.describe(conn);
    this.events.emit({ type: 'detach', ...info, code: closeCode, reason, resumableUntil: until });
  }

  /** A connection ends for good: off the index, then its close event. */
  private async finish(conn: LocalConnection, code: number, reason: ServerCloseReason | 'peer', registered: boolean): Promise<void> {
    if (reason === 'resume-expired') this.metrics.resumes.expired++;
    const info = registered
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
      code,
      reason,
    });
  }

  private closesHandled(): Promise<unknown> {
    return Promise.all([...this.pendingCloses]);
  }

  private trackClose(promise: Promise<void>): void {
    this.pendingCloses.add(promise);
    void promise.finally(() => this.pendingCloses.delete(promise));
  }

  /**
   * Visits the slots of the wheel that are due: pings the connections, and drops those silent for longer than
   * the timeout. Slots are due by the wall clock, so a timer that fires late (a busy event loop) visits every
   * slot it missed, up to one whole turn, and the pings keep their interval.
   */
  private sweep(heartbeat: { interval: number; timeout: number }, tick: number): void {
    const now = Date.now();
    let due = 0;
    while (this.nextSliceAt <= now && due < HEARTBEAT_SLICES) {
      due++;
      this.nextSliceAt += tick;
    }
    if (this.nextSliceAt <= now) this.nextSliceAt = now + tick; // more than a turn behind: start afresh
    const silent: LocalConnection[] = [];
    for (let slot = 0; slot < due; slot++) {
      this.wheel.tick((conn) => {
        if (conn.socket.readyState !== WebSocket.OPEN) return;
        if (conn.lastSeen < now - heartbeat.timeout) silent.push(conn);
        // Every visit pings, except a connection opened (or pinged) less than half an interval ago: a visit that
        // came late must not make the next, punctual one skip its ping and double the gap.
        else if (now - conn.lastPing >= heartbeat.interval / 2) {
          conn.lastPing = now;
          this.registry.control(conn, 'ping');
          // Browsers hide protocol pings from pages: the resumable protocol's client watches this frame instead
          // (not before its welcome, which a resume writes after its replay).
          if (conn.resume && conn.resume.pending === null) this.registry.write(conn, HEARTBEAT_FRAME);
        }
      });
    }
    if (silent.length === 0) return;
    // Judged again after this turn's I/O: after a stall, timers run before pending reads, and a pong may be
    // waiting, unread, in the socket. Only a peer that is still silent then is dropped.
    setImmediate(() => {
      const deadline = Date.now() - heartbeat.timeout;
      for (const conn of silent) {
        if (conn.socket.readyState !== WebSocket.OPEN || conn.lastSeen >= deadline) continue;
        this.metrics.heartbeatTimeouts++;
        this.registry.destroy(conn, 'heartbeat', 1006);
      }
    });
  }
}

/** The hello timeout of a client that asks for the resumable protocol while resume is off. */
const PUSH_HELLO_TIMEOUT = PUSH_DEFAULTS.resume.helloTimeout;

/** A fresh connection's welcome replays nothing. */
const NO_REPLAY: ReadonlyMap<string, HistoryOffset> = new Map();

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

import type { IncomingMessage } from 'node:http';
import type { PushSession, PushMessage } from './push-message.interface';
import type { PushEngine } from '../engine/push.engine';
import type { RedisEngineOptions } from '../engine/redis/redis-engine.options';

/** What `authenticate` may answer: refuse, accept anonymously, or accept and name the uid to bind before init. */
export type PushAuthResult = false | null | undefined | true | { uid?: string; session?: PushSession };

/**
 * Runs on every upgrade request before the 101 is sent. Answer `false`/`null` to refuse with 401,
 * `true` to accept, or `{ uid, session }` to accept and bind that uid (and session) before the init frame.
 * A hook that throws refuses with 500 and is logged; one that has not settled within `authenticateTimeout`
 * refuses with 503.
 */
export type PushAuthenticateHook = (request: IncomingMessage) => PushAuthResult | Promise<PushAuthResult>;

/** Heartbeat settings: WebSocket protocol pings, answered by browsers on their own. */
export interface PushHeartbeatOptions {
  /** How often each connection is pinged, in ms. Default 25 000. */
  interval: number;
  /** Silence (no pong, no frame) after which a peer is dropped, in ms. Default 60 000. */
  timeout: number;
}

/** Bounds of every target's history (a uid's, a group's, everyone's, a client_id's), kept for recovery. */
export interface PushHistoryOptions {
  /** Messages kept per target. Default 1 000. */
  maxCount?: number;
  /** Payload bytes kept per target. Default 1 MiB. */
  maxBytes?: number;
  /**
   * How long a message is kept, in ms. At least `window` + `heartbeat.timeout` + `heartbeat.interval`, plus
   * `engine.nodeTtl` + `engine.reapInterval` on Redis (a client may miss a message sent while its connection was dying
   * unnoticed, or just after its node was killed, then stay away for the whole window). Default 300 000 (5 min), or
   * that when it is more.
   */
  maxAge?: number;
  /** Bytes all histories of one process may hold together (memory engine; Redis keeps them in Redis). Default 64 MiB. */
  maxTotalBytes?: number;
}

/**
 * Resume and recovery, for clients on the resumable protocol (the official client, `nest-push-client`). A plain
 * client (no subprotocol) is not concerned: it gets the init frame and raw messages, as always.
 */
export interface PushResumeOptions {
  /** How long a dropped connection stays resumable (bindings kept, pushes held), in ms. Default 120 000 (2 min). */
  window?: number;
  /** How long a client on the resumable protocol may take to send its first frame (hello), in ms. Default 10 000. */
  helloTimeout?: number;
  /**
   * Dropped connections this process keeps for a resume at once (each keeps its bindings and a timer for the window);
   * per client address, at most `maxConnectionsPerAddress` too. Past either, a drop ends the connection at once (a
   * `close` event, counted in `resumes.overLimit`). Default `maxConnections`; `Infinity` switches it off.
   */
  maxDetached?: number;
  /** Bounds of the histories that recovery replays from. */
  history?: PushHistoryOptions;
}

/** The in-process engine: one process holds every connection and answers every query. */
export interface MemoryEngineOptions {
  type: 'memory';
}

/** Engine selection: a built-in engine by its options, or any object that extends `PushEngine`. */
export type PushEngineOption = MemoryEngineOptions | RedisEngineOptions | PushEngine;

/** Options of `PushModule.forRoot()` / the factory of `forRootAsync()`. Every field has a safe default. */
export interface PushModuleOptions {
  /** Which engine routes calls and answers queries: `{ type: 'memory' }` (default) or `{ type: 'redis', … }`. */
  engine?: PushEngineOption;
  /** Ping interval and drop timeout, or `false` to disable (not advised: dead peers then stay forever). */
  heartbeat?: PushHeartbeatOptions | false;
  /** Largest inbound frame in bytes; a larger one closes the connection with 1009. Default 16 KiB. */
  maxPayload?: number;
  /** Bytes that may wait in one connection's send queue; past it the connection is closed with 1013. Default 4 MiB. */
  maxBufferedBytes?: number;
  /**
   * Origins (`scheme://host[:port]`) allowed to open a WebSocket, or a predicate. Unset: any origin.
   * A request from another origin is refused with 403 at the upgrade. Requests without an Origin header
   * (non-browser clients) are allowed unless `requireOrigin` is set.
   */
  allowedOrigins?: string[] | ((origin: string) => boolean);
  /** With `allowedOrigins`, also refuse upgrades that carry no Origin header. Default false. */
  requireOrigin?: boolean;
  /** Hook run on each upgrade request. See {@link PushAuthenticateHook}. */
  authenticate?: PushAuthenticateHook;
  /** Builds the first frame a connection receives. Default: `{"type":"init","client_id":"…"}`. */
  initMessage?: (clientId: string) => PushMessage;
  /** Two-way mode: `{"type":"message","data":…}` frames from clients reach `PushEvents.message$`. Default false. */
  inbound?: boolean;
  /**
   * Frames written per event-loop turn before a large fan-out yields to timers, I/O and HTTP (the rest goes out
   * on the next turns, in order). Lower it for smaller event-loop stalls, raise it for throughput. Default 1024.
   */
  fanoutChunk?: number;
  /** Longest uid or group name accepted, in characters. Default 256. */
  maxIdLength?: number;
  /** How long a graceful shutdown waits for clients to acknowledge the 1001 close, in ms. Default 3 000. */
  shutdownTimeout?: number;
  /** Groups one connection may be in; `joinGroup` past it rejects with 409 `too_many_groups`. Default 100. */
  maxGroupsPerConnection?: number;
  /**
   * Largest session, in UTF-8 bytes of its JSON; `setSession` / `updateSession` (the merged result) past it reject
   * with 413 `session_too_large`. Default 16 KiB.
   */
  maxSessionBytes?: number;
  /** Connections this process holds at most; further upgrades are refused with 503 `server_full`. Default 50 000. */
  maxConnections?: number;
  /**
   * Connections one remote address may hold on this process; further upgrades from it are refused with 429
   * `too_many_connections`. Behind a reverse proxy every client has the proxy's address: raise it (or set
   * `Infinity`) there and limit per client at the proxy. Default 1 000.
   */
  maxConnectionsPerAddress?: number;
  /** How long the `authenticate` hook may take, in ms, before the upgrade is refused with 503. Default 10 000. */
  authenticateTimeout?: number;
  /**
   * Frame writes that may wait in this process's fan-out queue (recipients × messages not yet written). A send
   * that would pass it rejects with 503 `fanout_queue_full` instead of growing memory. Default 1 000 000.
   */
  maxFanoutQueue?: number;
  /**
   * How often this node publishes its stats snapshot (`NodeStats`) through the engine, in ms, so that
   * `PushService.getClusterStats()` on any node sees the whole cluster; `false` = never (the node is then absent
   * from it). A snapshot lives 3 × this. Costs one small write per node per interval (see the README). Default 2 000.
   */
  nodeStatsInterval?: number | false;
  /**
   * Resume and recovery for the official client's protocol (see {@link PushResumeOptions}); `false` turns them off
   * (such clients then start afresh, and bind again, after every drop). Default on, with the defaults listed there.
   */
  resume?: PushResumeOptions | false;
}

/** Options fixed when the module is declared (also for `forRootAsync`): they shape the gateway class itself. */
export interface PushModuleExtras {
  /** Register the module globally. Default false. */
  isGlobal?: boolean;
  /** Run a WebSocket gateway in this process. `false` makes a push-only node. Default true. */
  gateway?: boolean;
  /** Path of the WebSocket endpoint. Default `/ws`. */
  path?: string;
  /** Port of the WebSocket endpoint; 0 shares the app's HTTP server. Default 0. */
  port?: number;
}

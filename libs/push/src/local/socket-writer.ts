import { Logger, type LoggerService } from '@nestjs/common';
import type { Socket } from 'node:net';
import WebSocket from 'ws';
import type { EncodedMessage } from '../message/encoded-message';

/*
 * The one place in the library that reaches into ws's internals. Everything else writes through `SocketWriter`
 * and ws's public API, so a ws release that renames an internal costs throughput (with a warning), never delivery.
 */

/**
 * How the writer puts frames on the wire:
 * - `fast`: each message is framed once and the same bytes go to every socket through ws's sender; a socket's
 *   writes in one event-loop turn leave in one syscall (cork, then one uncork for the turn);
 * - `public-api`: `socket.send` / `ping` / `pong` only (ws frames every message per recipient and each write is
 *   its own syscall), chosen when an internal the fast path needs is missing from the installed ws.
 */
export type SocketWriteMode = 'fast' | 'public-api';

/** The ws module as the start-up check reads it: the installed `ws` unless a test passes a stand-in. */
export interface WsModuleLike {
  /** ws's `Sender` class (a static of the `WebSocket` class in ws 8, missing from @types/ws). */
  readonly Sender?: unknown;
}

/** Where the writer keeps one socket's state: `LocalConnection` is one. */
export interface WriterTarget {
  /** The server-side ws socket. */
  readonly socket: WebSocket;
  /**
   * Owned by the writer: undefined until the socket's first write, then its checked fast path, or null when the
   * socket is written through ws's public API.
   */
  wire: SocketWire | null | undefined;
}

/** One socket's fast path, checked once: ws's TCP socket and sender, and whether it is corked for this turn. */
export interface SocketWire {
  /** The net.Socket under the ws socket. */
  readonly tcp: CorkableSocket;
  /** ws's sender for this socket. */
  readonly sender: SenderInternals;
  /** True while its writes wait for this turn's flush. */
  corked: boolean;
}

/** The net.Socket methods the fast path calls. */
export interface CorkableSocket {
  /** Holds writes in memory until `uncork`. */
  cork(): void;
  /** Writes everything held since `cork` in one `writev`. */
  uncork(): void;
}

/** The parts of a ws 8 `Sender` instance the fast path uses. */
export interface SenderInternals {
  /** 0 while nothing (a deflate, a blob read) is pending, so a frame may be written directly. */
  _state: number;
  /** Writes already-framed bytes to the TCP socket, after anything queued before (ws's own frames). */
  sendFrame(list: Buffer[], cb: undefined): void;
}

/** ws's `Sender` class as the fast path uses it. */
interface SenderClass {
  frame(data: Buffer, options: FrameOptions): Buffer[];
  prototype: { sendFrame?: unknown };
}

interface FrameOptions {
  fin: boolean;
  opcode: number;
  mask: boolean;
  readOnly: boolean;
  rsv1: boolean;
}

/** The ws socket's internals the per-socket check reads. */
interface WsSocketInternals {
  _socket?: Partial<CorkableSocket> | null;
  _sender?: Partial<SenderInternals> | null;
}

/** Options of {@link SocketWriter}. */
export interface SocketWriterOptions {
  /** Bytes that may wait in one socket's send queue (what {@link SocketWriter.fits} answers against). */
  maxBufferedBytes: number;
  /** The ws module whose internals are checked; the installed `ws` by default (tests pass a stand-in). */
  ws?: WsModuleLike;
  /** Where the one fallback warning goes; Nest's `Logger` with the context `PushSocketWriter` by default. */
  logger?: Pick<LoggerService, 'warn'>;
}

/** ws's Sender state when nothing is pending (ws 8's `DEFAULT`). */
const SENDER_IDLE = 0;
const OPCODE_TEXT = 1;
const OPCODE_BINARY = 2;
/** Header of a server-sent control frame: payloads of ping and pong are at most 125 bytes, so 2 bytes. */
const CONTROL_FRAME_HEADER = 2;
const NOOP = (): void => undefined;

/** Bytes a ping or pong with this payload adds to a socket's send queue (for the cap check). */
export function controlFrameSize(data?: Buffer): number {
  return (data?.length ?? 0) + CONTROL_FRAME_HEADER;
}

/**
 * Writes frames to ws sockets: frames each message once and shares the bytes, corks every socket written in a turn
 * and uncorks them all in one flush, answers whether bytes fit under the send-queue cap, and sends pings and
 * pongs. The installed ws is checked when the writer is built and each socket on its first write; if an internal
 * is missing, the writer says which one, once, and goes on through ws's public API.
 */
export class SocketWriter {
  private currentMode: SocketWriteMode = 'fast';
  private readonly maxBufferedBytes: number;
  private readonly logger: Pick<LoggerService, 'warn'>;
  /** Builds a message's frame (bound once, so a write allocates no closure). */
  private readonly buildFrame: (data: Buffer, binary: boolean) => Buffer;
  /** Sockets corked since the last flush: each at most once, so never more than the sockets open. */
  private corked: SocketWire[] = [];
  private flushScheduled = false;

  constructor(options: SocketWriterOptions) {
    this.maxBufferedBytes = options.maxBufferedBytes;
    this.logger = options.logger ?? new Logger('PushSocketWriter');
    const ws = options.ws ?? (WebSocket as unknown as WsModuleLike);
    const missing = missingModuleInternal(ws);
    const sender = ws.Sender as SenderClass;
    this.buildFrame = missing !== null ? unavailable(missing) : (data, binary) => {
      const parts = sender.frame(data, {
        fin: true,
        opcode: binary ? OPCODE_BINARY : OPCODE_TEXT,
        mask: false,
        readOnly: true,
        rsv1: false,
      });
      return parts.length === 1 ? parts[0] : Buffer.concat(parts);
    };
    if (missing !== null) this.fallBack(missing);
  }

  /** Which way frames are written now (see {@link SocketWriteMode}); sockets checked from now on get this mode. */
  get mode(): SocketWriteMode {
    return this.currentMode;
  }

  /** Whether `bytes` more fit in the socket's send queue under `maxBufferedBytes`. */
  fits(socket: WebSocket, bytes: number): boolean {
    return socket.bufferedAmount + bytes <= this.maxBufferedBytes;
  }

  /**
   * Writes `message` to an open socket. The caller checks that the socket is open and that the message fits; the
   * frame leaves with this turn's flush.
   */
  write(target: WriterTarget, message: EncodedMessage): void {
    const wire = target.wire === undefined ? this.attach(target) : target.wire;
    if (wire === null) {
      target.socket.send(message.data, { binary: message.binary });
      return;
    }
    this.cork(wire);
    if (wire.sender._state === SENDER_IDLE) {
      wire.sender.sendFrame([message.framedBy(this.buildFrame)], undefined);
    } else {
      // Something of ws's own is pending: its send queues behind it, where a direct write would overtake it.
      target.socket.send(message.data, { binary: message.binary });
    }
  }

  /**
   * Sends a ping or a pong on an open socket, in order with the frames written before it. The caller checks the
   * cap with {@link controlFrameSize}. A control frame is at most 127 bytes and never shared, so ws frames it.
   */
  control(target: WriterTarget, kind: 'ping' | 'pong', data?: Buffer): void {
    const wire = target.wire === undefined ? this.attach(target) : target.wire;
    if (wire !== null) this.cork(wire);
    if (kind === 'ping') target.socket.ping(data, undefined, NOOP);
    else target.socket.pong(data, undefined, NOOP);
  }

  /**
   * The frame the fast path writes for `message`: built on first use, then the same bytes for every socket.
   * Throws when the installed ws has no frame builder (the writer is then in `public-api` mode).
   */
  frame(message: EncodedMessage): Buffer {
    return message.framedBy(this.buildFrame);
  }

  /** Releases every socket corked since the last flush: each sends what it gathered in one writev. */
  readonly flush = (): void => {
    this.flushScheduled = false;
    const corked = this.corked;
    if (corked.length === 0) return;
    this.corked = [];
    for (const wire of corked) {
      wire.corked = false;
      wire.tcp.uncork();
    }
  };

  /** Holds the socket's writes until the end of this turn, so that several frames leave in one syscall. */
  private cork(wire: SocketWire): void {
    if (wire.corked) return;
    wire.corked = true;
    wire.tcp.cork();
    this.corked.push(wire);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flush);
    }
  }

  /** Checks a socket once, on its first write, and records how it will be written. */
  private attach(target: WriterTarget): SocketWire | null {
    // With permessage-deflate (an extension), ws's own send keeps its compression queue in order; a direct write
    // could overtake it. The gateway turns deflate off, so only sockets accepted elsewhere take this branch.
    if (this.currentMode === 'public-api' || target.socket.extensions !== '') return (target.wire = null);
    const internals = target.socket as unknown as WsSocketInternals;
    const missing = missingSocketInternal(internals);
    if (missing !== null) {
      this.fallBack(missing);
      return (target.wire = null);
    }
    return (target.wire = {
      tcp: internals._socket as CorkableSocket,
      sender: internals._sender as SenderInternals,
      corked: false,
    });
  }

  /** Switches new sockets to ws's public API and says why, once. Sockets already checked keep their fast path. */
  private fallBack(missing: string): void {
    if (this.currentMode === 'public-api') return;
    this.currentMode = 'public-api';
    this.logger.warn(
      `ws internal ${missing} is missing in the installed ws: writing through ws's public API ` +
        '(socket.send, ping, pong) instead. Delivery is unchanged, but throughput is lower: every message is ' +
        'framed once per recipient and writes in one turn are no longer coalesced into one syscall.',
    );
  }
}

/** The TCP socket under a ws socket, or null if this ws hides it (tests pause a client's reads with it). */
export function tcpSocketOf(socket: WebSocket): Socket | null {
  return (socket as unknown as { _socket?: Socket | null })._socket ?? null;
}

/** A frame builder for a ws without one: says which internal is missing. */
function unavailable(missing: string): () => never {
  return () => {
    throw new Error(`cannot frame a message: ${missing} is missing in the installed ws`);
  };
}

/** The first ws module internal the fast path needs that is missing, or null. */
function missingModuleInternal(ws: WsModuleLike): string | null {
  const sender = ws.Sender as Partial<SenderClass> | null | undefined;
  if (typeof sender?.frame !== 'function') return 'WebSocket.Sender.frame';
  if (typeof sender.prototype?.sendFrame !== 'function') return 'WebSocket.Sender.prototype.sendFrame';
  return null;
}

/** The first per-socket internal the fast path needs that is missing, or null. */
function missingSocketInternal(socket: WsSocketInternals): string | null {
  const tcp = socket._socket;
  if (typeof tcp?.cork !== 'function' || typeof tcp.uncork !== 'function') return 'socket._socket.cork/uncork';
  const sender = socket._sender;
  if (typeof sender?.sendFrame !== 'function') return 'socket._sender.sendFrame';
  if (typeof sender._state !== 'number') return 'socket._sender._state';
  return null;
}

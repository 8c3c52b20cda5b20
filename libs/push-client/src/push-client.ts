/*
 * nest-push-client: the official client of nest-push-channel, in one dependency-free ES module, so that a page can
 * load it with <script type="module"> and no build step (the example app serves it at /push-client.js).
 *
 * It speaks the resumable protocol (WebSocket subprotocol `nest-push.v1`, see the server's README, "Protocol"):
 * after a drop it reconnects with exponential backoff and full jitter, presents its resume token, and gets its
 * connection back (uid, groups, session) with every message pushed meanwhile, once and in order, or is told that this
 * could not be guaranteed (`recovered: false`). It notices a dead connection from the server's heartbeat frames.
 *
 * The source names no DOM type: it runs in browsers, and in Node with the `ws` package given as `WebSocket`.
 */

/** The subprotocol the client asks for. */
export const PUSH_PROTOCOL = 'nest-push.v1';

/** The connection's state, as `state` events report it. */
export type PushClientState = 'connecting' | 'open' | 'closed';

/** What a `resumed` event says, after every reconnect. */
export interface ResumedEvent {
  /**
   * True when every message pushed to this connection while it was away has now been delivered (once, in order,
   * before any newer one). False when that could not be guaranteed: reload what the page shows from the server.
   */
  recovered: boolean;
  /** The client_id now (it changes when the connection resumed on another server node, or started afresh). */
  clientId: string;
  /** The client_id before the reconnect. */
  previousClientId: string | null;
  /**
   * True when the server gave the connection back with its bindings; false when it started afresh (the window
   * passed, or the server restarted without keeping it): `bind` was then called, and `recovered` is false.
   */
  resumed: boolean;
  /** Why the server refused the resume, when it did: `not_found`, `refused` or `malformed`. */
  reason?: string;
}

/** What a `closed` state carries (see `PushClient.lastClose`). */
export interface CloseInfo {
  code: number;
  reason: string;
}

/** An error frame of the server (a frame it refused) or a failed `bind`. */
export interface PushClientError {
  code: string;
  message: string;
}

/** The events of a `PushClient` and what their listeners receive. */
export interface PushClientEvents<T> {
  /** A message the app pushed: a string, the JSON value the app sent, or the bytes (Uint8Array) of a binary push. */
  message: (data: T) => void;
  /** `connecting` (opening a socket, or waiting to reconnect), `open` (ready), `closed` (for good). */
  state: (state: PushClientState) => void;
  /** After each reconnect: whether the connection came back, and whether nothing was lost meanwhile. */
  resumed: (event: ResumedEvent) => void;
  /** An error frame of the server, or a `bind` that failed. */
  error: (error: PushClientError) => void;
}

/** Reconnect timing: attempt n waits a random time in [0, min(max, initial × 2ⁿ)) ms ("full jitter"). */
export interface BackoffOptions {
  /** ms; the first reconnect waits up to this long. Default 1 000. */
  initial?: number;
  /** ms; no wait is longer. Default 30 000. */
  max?: number;
}

/** The parts of a WebSocket the client uses: the browser's `WebSocket`, or the `ws` package in Node. */
export interface WebSocketLike {
  readonly readyState: number;
  readonly protocol: string;
  binaryType: string;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/** A WebSocket constructor (`WebSocket` in browsers; `import WebSocket from 'ws'` in Node). */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** Options of `new PushClient(…)`. */
export interface PushClientOptions {
  /** The server's WebSocket URL. Default: the page's own host, `ws(s)://<host>/ws`. */
  url?: string;
  /**
   * Called with the client_id when a fresh connection needs binding (the first one, and any reconnect the server
   * could not resume): post it to the app's bind endpoint. Never called for a resumed connection.
   */
  bind?: (clientId: string) => void | Promise<void>;
  /** Reconnect timing (see `BackoffOptions`). */
  backoff?: BackoffOptions;
  /**
   * ms of silence after which the connection counts as dead and is replaced, when the server sends no heartbeat.
   * With a heartbeat (the default), the bound is 2 × the server's heartbeat interval + 1 s (51 s by default).
   */
  deadAfter?: number;
  /** Most history cursors kept (one per uid, group, everyone and client_id it received from). Default 128. */
  maxCursors?: number;
  /** The WebSocket implementation. Default: the global `WebSocket`. */
  WebSocket?: WebSocketConstructor;
}

/** Close codes after which the client does not reconnect: the server (or another tab) ended it on purpose. */
const FINAL_CLOSE_CODES = new Set([1000, 1008, 1009, 4001]);
/** ms within which the welcome must follow the hello when no heartbeat interval is known yet. */
const WELCOME_WITHIN = 30_000;
const NEWLINE = 0x0a;

type Listener<T, K extends keyof PushClientEvents<T>> = PushClientEvents<T>[K];

/**
 * One push connection that survives drops. Construct it to connect; listen to `message`, `state`, `resumed` and
 * `error`; `close()` ends it.
 *
 * ```js
 * import { PushClient } from '/push-client.js';
 * const push = new PushClient({ bind: (clientId) => fetch('/bind', { method: 'POST', … }) });
 * push.on('message', (data) => show(data));
 * push.on('resumed', ({ recovered }) => { if (!recovered) reloadFromServer(); });
 * ```
 */
export class PushClient<T = unknown> {
  /** The connection's client_id once the server welcomed it (null before). */
  clientId: string | null = null;
  /** The current state. */
  state: PushClientState = 'connecting';
  /** How the last socket closed (null while none has). */
  lastClose: CloseInfo | null = null;

  private readonly url: string;
  private readonly options: PushClientOptions;
  private readonly WebSocketImpl: WebSocketConstructor;
  private readonly listeners: { [K in keyof PushClientEvents<T>]: Set<Listener<T, K>> } = {
    message: new Set(),
    state: new Set(),
    resumed: new Set(),
    error: new Set(),
  };
  private socket: WebSocketLike | null = null;
  /** The resume token the last welcome handed out (null until the first welcome). */
  private token: string | null = null;
  /** The last offset received per history key, least recently updated first. */
  private readonly cursors = new Map<string, string>();
  private attempt = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private deadTimer: ReturnType<typeof setTimeout> | null = null;
  /** ms of silence after which the socket counts as dead (0: not watched). */
  private deadAfter = 0;
  /** When the current socket last received a frame (ms). */
  private lastFrameAt = 0;
  private closed = false;
  /** The client_id before the current socket (for `resumed`). */
  private previousClientId: string | null = null;
  private readonly decoder: Utf8Decoder = new TextDecoder();

  constructor(options: PushClientOptions = {}) {
    this.options = options;
    this.url = options.url ?? defaultUrl();
    const impl = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!impl) throw new Error('PushClient: no WebSocket implementation (pass one as the WebSocket option)');
    this.WebSocketImpl = impl;
    this.connect();
  }

  /** Listens to an event; returns a function that stops listening. */
  on<K extends keyof PushClientEvents<T>>(event: K, listener: PushClientEvents<T>[K]): () => void {
    this.listeners[event].add(listener);
    return () => this.off(event, listener);
  }

  /** Stops listening. */
  off<K extends keyof PushClientEvents<T>>(event: K, listener: PushClientEvents<T>[K]): void {
    this.listeners[event].delete(listener);
  }

  /** Closes the connection for good (the server ends it at once: it is not kept for a resume). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.clearTimers();
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      detach(socket);
      socket.close(1000, 'closed by the client');
    }
    this.setState('closed');
  }

  // ---- the socket ------------------------------------------------------------------------------------------------

  private connect(): void {
    this.reconnectTimer = null;
    if (this.closed) return;
    this.setState('connecting');
    let socket: WebSocketLike;
    try {
      socket = new this.WebSocketImpl(this.url, [PUSH_PROTOCOL]);
    } catch (error) {
      this.emit('error', { code: 'connect_failed', message: String((error as Error)?.message ?? error) });
      this.scheduleReconnect();
      return;
    }
    socket.binaryType = 'arraybuffer';
    this.socket = socket;
    socket.onopen = () => this.onOpen(socket);
    socket.onmessage = (event) => this.onFrame(socket, event.data);
    socket.onclose = (event) => this.onClose(socket, event.code, event.reason);
    socket.onerror = () => undefined; // a close event follows, and says more
  }

  private onOpen(socket: WebSocketLike): void {
    if (socket !== this.socket) return;
    if (socket.protocol !== PUSH_PROTOCOL) return; // an older server: it sends its init frame (see onLegacy)
    const hello: { type: 'hello'; resume?: string; cursors?: Record<string, string> } = { type: 'hello' };
    if (this.token !== null) {
      hello.resume = this.token;
      hello.cursors = Object.fromEntries(this.cursors);
    }
    socket.send(JSON.stringify(hello));
    // The welcome is due at once: a server that says nothing is as dead as one that stopped talking.
    this.watch(this.deadAfter || this.options.deadAfter || WELCOME_WITHIN);
  }

  private onFrame(socket: WebSocketLike, data: unknown): void {
    if (socket !== this.socket) return;
    this.lastFrameAt = Date.now();
    if (socket.protocol !== PUSH_PROTOCOL) return this.onLegacy(data);
    let frame: DecodedFrame;
    try {
      frame = decodeFrame(data, this.decoder);
    } catch (error) {
      this.emit('error', { code: 'bad_frame', message: (error as Error).message });
      return;
    }
    const header = frame.header;
    switch (header.type) {
      case 'msg':
        if (typeof header.key === 'string' && typeof header.off === 'string') this.advance(header.key, header.off);
        return this.emit('message', frame.payload as T);
      case 'hb':
        return;
      case 'welcome':
        return this.onWelcome(header);
      case 'error':
        return this.emit('error', { code: String(header.code), message: String(header.message ?? '') });
      default:
        return; // a control frame of a later protocol revision: ignored
    }
  }

  private onWelcome(header: FrameHeader): void {
    const asked = this.token !== null;
    const previous = this.previousClientId;
    this.clientId = String(header.client_id);
    this.token = typeof header.token === 'string' ? header.token : null;
    const heartbeat = typeof header.heartbeat === 'number' ? header.heartbeat : 0;
    const deadAfter = heartbeat > 0 ? 2 * heartbeat + 1000 : (this.options.deadAfter ?? 0);
    if (deadAfter) this.watch(deadAfter);
    else this.unwatch();
    this.attempt = 0;
    const resumed = header.resumed === true;
    if (!resumed) this.cursors.clear(); // a fresh connection: its targets' histories start now
    this.setState('open');
    if (!resumed) this.callBind(this.clientId);
    if (asked) {
      const event: ResumedEvent = {
        recovered: resumed && header.recovered === true,
        clientId: this.clientId,
        previousClientId: previous,
        resumed,
      };
      if (typeof header.reason === 'string') event.reason = header.reason;
      this.emit('resumed', event);
    }
  }

  /** A server without the resumable protocol: its init frame, then the app's messages as they are. */
  private onLegacy(data: unknown): void {
    const text = typeof data === 'string' ? data : null;
    let parsed: unknown = data instanceof ArrayBuffer ? new Uint8Array(data) : data;
    if (text !== null) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
    }
    const init = parsed as { type?: unknown; client_id?: unknown } | null;
    if (this.clientId === null && init && init.type === 'init' && typeof init.client_id === 'string') {
      this.clientId = init.client_id;
      this.setState('open');
      this.callBind(init.client_id);
      return;
    }
    this.emit('message', parsed as T);
  }

  private onClose(socket: WebSocketLike, code: number, reason: string): void {
    if (socket !== this.socket) return;
    detach(socket);
    this.socket = null;
    this.unwatch();
    this.lastClose = { code, reason };
    this.previousClientId = this.clientId ?? this.previousClientId;
    if (this.closed) return;
    if (FINAL_CLOSE_CODES.has(code)) {
      this.closed = true;
      this.setState('closed');
      return;
    }
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed) return;
    this.setState('connecting');
    const initial = this.options.backoff?.initial ?? 1000;
    const max = this.options.backoff?.max ?? 30_000;
    const delay = fullJitter(this.attempt++, initial, max);
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  /**
   * The socket counts as dead after `ms` without a frame: it is dropped and replaced (a resume follows). One timer per
   * socket, re-armed for what is left when it fires early, so frames cost no timer work.
   */
  private watch(ms: number): void {
    this.unwatch();
    this.deadAfter = ms;
    this.lastFrameAt = Date.now();
    const socket = this.socket;
    const check = (): void => {
      if (socket !== this.socket || socket === null) return;
      const silent = Date.now() - this.lastFrameAt;
      if (silent < this.deadAfter) {
        this.deadTimer = setTimeout(check, this.deadAfter - silent);
        return;
      }
      this.deadTimer = null;
      detach(socket);
      this.socket = null;
      try {
        socket.close(4000, 'no heartbeat');
      } catch {
        // closing a socket that never opened may throw: it is dropped either way
      }
      this.lastClose = { code: 4000, reason: 'no heartbeat' };
      this.previousClientId = this.clientId ?? this.previousClientId;
      this.scheduleReconnect();
    };
    this.deadTimer = setTimeout(check, ms);
  }

  private unwatch(): void {
    if (this.deadTimer !== null) clearTimeout(this.deadTimer);
    this.deadTimer = null;
    this.deadAfter = 0;
  }

  private clearTimers(): void {
    this.unwatch();
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
  }

  // ---- bookkeeping -----------------------------------------------------------------------------------------------

  /** Remembers the last offset received from a history (bounded: the least recently updated key goes first). */
  private advance(key: string, offset: string): void {
    this.cursors.delete(key);
    this.cursors.set(key, offset);
    const max = this.options.maxCursors ?? 128;
    while (this.cursors.size > max) this.cursors.delete(this.cursors.keys().next().value as string);
  }

  private callBind(clientId: string): void {
    const bind = this.options.bind;
    if (!bind) return;
    Promise.resolve()
      .then(() => bind(clientId))
      .catch((error: unknown) =>
        this.emit('error', { code: 'bind_failed', message: String((error as Error)?.message ?? error) }),
      );
  }

  private setState(state: PushClientState): void {
    if (this.state === state) return;
    this.state = state;
    this.emit('state', state);
  }

  private emit<K extends keyof PushClientEvents<T>>(event: K, value: Parameters<PushClientEvents<T>[K]>[0]): void {
    for (const listener of [...this.listeners[event]]) {
      try {
        (listener as (value: unknown) => void)(value);
      } catch (error) {
        // A listener's error must not break the connection: report it where the page can see it.
        setTimeout(() => {
          throw error;
        });
      }
    }
  }
}

/** A frame's header fields (strings, numbers and booleans; unknown ones are ignored). */
export type FrameHeader = Record<string, unknown> & { type?: unknown };

/** What decodes a binary frame's header (a `TextDecoder`). */
export interface Utf8Decoder {
  decode(input: Uint8Array): string;
}

/** A decoded server frame. */
export interface DecodedFrame {
  header: FrameHeader;
  /** The app's message (message frames): a string, a parsed JSON value, or bytes. */
  payload?: unknown;
}

/**
 * Reads a frame of the resumable protocol: a JSON header, then for a message frame a newline and the payload (a
 * text frame's payload is a string, parsed as JSON when the header says `json`; a binary frame's is bytes).
 */
export function decodeFrame(data: unknown, decoder: Utf8Decoder = new TextDecoder()): DecodedFrame {
  if (typeof data === 'string') {
    const end = data.indexOf('\n');
    const header = parseHeader(end < 0 ? data : data.slice(0, end));
    if (end < 0) return { header };
    const text = data.slice(end + 1);
    return { header, payload: header.json ? JSON.parse(text) : text };
  }
  const bytes = toBytes(data);
  const end = bytes.indexOf(NEWLINE);
  const header = parseHeader(decoder.decode(end < 0 ? bytes : bytes.subarray(0, end)));
  return end < 0 ? { header } : { header, payload: bytes.slice(end + 1) };
}

function parseHeader(text: string): FrameHeader {
  const header: unknown = JSON.parse(text);
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new Error('frame header is not an object');
  return header as FrameHeader;
}

function toBytes(data: unknown): Uint8Array {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new Error(`unexpected frame data (${typeof data})`);
}

/** The wait before reconnect attempt `attempt` (0, 1, …): random in [0, min(max, initial × 2^attempt)) ms. */
export function fullJitter(attempt: number, initial: number, max: number, random: () => number = Math.random): number {
  const cap = Math.min(max, initial * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * cap);
}

/** `ws(s)://<host>/ws` of the page, where there is one. */
function defaultUrl(): string {
  const location = (globalThis as { location?: { protocol: string; host: string } }).location;
  if (!location) throw new Error('PushClient: no url given, and no page location to derive it from');
  return `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws`;
}

function detach(socket: WebSocketLike): void {
  socket.onopen = null;
  socket.onmessage = null;
  socket.onclose = null;
  socket.onerror = null;
}

import { WebSocket, type RawData } from 'ws';

/** How a socket ended, as the client saw it. */
export interface ContractClientClose {
  /** The close code the client received (1006 when the connection was cut without a close frame). */
  code: number;
  /** The close reason, as text. */
  reason: string;
}

/**
 * A real `ws` client of a contract node. It queues every frame it receives, so a case awaits the next frame
 * instead of sleeping: text frames are parsed as JSON when they are JSON (kept as text otherwise), binary frames
 * are kept as Buffers.
 */
export class ContractClient {
  /** The client_id of the init frame. */
  clientId = '';
  /** Settles once the socket has closed, with what the client saw. */
  readonly closed: Promise<ContractClientClose>;
  private readonly received: unknown[] = [];
  private cursor = 0;
  private wake: (() => void) | null = null;

  private constructor(
    /** The underlying `ws` socket. */
    readonly socket: WebSocket,
  ) {
    socket.on('message', (data: RawData, isBinary: boolean) => {
      this.received.push(isBinary ? toBuffer(data) : parseText(toBuffer(data).toString('utf8')));
      this.notify();
    });
    this.closed = new Promise((resolve) => {
      socket.on('close', (code: number, reason: Buffer) => {
        resolve({ code, reason: reason.toString() });
        this.notify();
      });
    });
    // A socket error is followed by 'close', which is what the cases look at.
    socket.on('error', () => undefined);
  }

  /** Opens a socket to `url` and waits for its init frame (`{"type":"init","client_id":…}`). */
  static async connect(url: string, timeoutMs = 5_000): Promise<ContractClient> {
    const socket = new WebSocket(url);
    const client = new ContractClient(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('unexpected-response', (_request, response) =>
        reject(new Error(`the upgrade to ${url} was refused with ${response.statusCode}`)),
      );
      socket.once('error', reject);
    });
    const init = (await client.next(timeoutMs)) as { type?: unknown; client_id?: unknown } | null;
    if (init?.type !== 'init' || typeof init.client_id !== 'string') {
      socket.terminate();
      throw new Error(`expected an init frame first, got ${JSON.stringify(init)}`);
    }
    client.clientId = init.client_id;
    return client;
  }

  /** The next frame not read yet. Rejects when none comes within `timeoutMs`, or when the socket closes first. */
  async next(timeoutMs = 5_000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    while (this.cursor >= this.received.length) {
      if (this.socket.readyState === WebSocket.CLOSED) throw new Error('the socket closed while a frame was awaited');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no frame within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
    }
    return this.received[this.cursor++];
  }

  /** Whether the socket is open. */
  get open(): boolean {
    return this.socket.readyState === WebSocket.OPEN;
  }

  /** Closes the socket from the client's side (a normal 1000 close) and waits until it is closed. */
  close(): Promise<ContractClientClose> {
    if (this.socket.readyState === WebSocket.OPEN || this.socket.readyState === WebSocket.CONNECTING) {
      this.socket.close(1000);
    }
    return this.closed;
  }

  private notify(): void {
    this.wake?.();
  }
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
}

function parseText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

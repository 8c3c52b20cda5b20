import WebSocket, { type ClientOptions, type RawData } from 'ws';

/** How a socket ended, as the client saw it. */
export interface ClientClose {
  code: number;
  reason: string;
}

/**
 * A real `ws` client that queues what it receives, so a test can await the next frame instead of sleeping.
 * Frames are parsed as JSON when they are text and kept as Buffers when binary.
 */
export class TestClient {
  readonly received: unknown[] = [];
  readonly closed: Promise<ClientClose>;
  clientId = '';
  private waiters: Array<() => void> = [];
  private cursor = 0;

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data: RawData, isBinary: boolean) => {
      this.received.push(isBinary ? (data as Buffer) : safeJson(data.toString()));
      this.wake();
    });
    this.closed = new Promise((resolve) => {
      socket.on('close', (code, reason) => {
        resolve({ code, reason: reason.toString() });
        this.wake();
      });
    });
    socket.on('error', () => undefined);
  }

  /** Opens a socket and waits for its init frame. */
  static async connect(url: string, options: ClientOptions = {}): Promise<TestClient> {
    const client = await TestClient.open(url, options);
    const init = (await client.next()) as { type?: string; client_id?: string };
    if (init?.type !== 'init' || typeof init.client_id !== 'string') {
      throw new Error(`expected an init frame, got ${JSON.stringify(init)}`);
    }
    client.clientId = init.client_id;
    return client;
  }

  /**
   * Opens a socket without consuming anything. Rejects with the HTTP status when the upgrade is refused. `protocols`
   * are offered as WebSocket subprotocols (e.g. the resumable protocol, `nest-push.v1`).
   */
  static open(url: string, options: ClientOptions = {}, protocols?: string[]): Promise<TestClient> {
    return new Promise((resolve, reject) => {
      const socket = protocols ? new WebSocket(url, protocols, options) : new WebSocket(url, options);
      const client = new TestClient(socket);
      socket.once('open', () => resolve(client));
      socket.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => reject(new UpgradeRefused(res.statusCode ?? 0, body)));
      });
      socket.once('error', (error) => reject(error));
    });
  }

  /** The next frame not yet consumed; rejects after `timeoutMs` or when the socket closes first. */
  async next(timeoutMs = 5000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    while (this.cursor >= this.received.length) {
      if (this.socket.readyState === WebSocket.CLOSED) throw new Error('socket closed while waiting for a frame');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no frame within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.received[this.cursor++];
  }

  /** Everything received and not consumed yet. */
  pending(): unknown[] {
    return this.received.slice(this.cursor);
  }

  send(data: string | Buffer, binary = false): void {
    this.socket.send(data, { binary });
  }

  close(code = 1000): Promise<ClientClose> {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.close(code);
    return this.closed;
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

/** An upgrade refused before the 101. */
export class UpgradeRefused extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`upgrade refused with ${status}: ${body}`);
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

import WebSocket from 'ws';
import {
  PushClient,
  type PushClientOptions,
  type PushClientState,
  type ResumedEvent,
  type WebSocketConstructor,
} from '../../libs/push-client/src/push-client';

/**
 * The official client (`nest-push-client`, its TypeScript source) running in Node on the `ws` package, recording
 * what it reports: messages, states, `resumed` events, `bind` calls and errors. Tests await a condition over these
 * records; every event re-checks the waiting conditions, so nothing polls or sleeps.
 */
export class RecordingClient<T = unknown> {
  readonly messages: T[] = [];
  readonly states: PushClientState[] = [];
  readonly resumes: ResumedEvent[] = [];
  readonly binds: string[] = [];
  readonly errors: { code: string; message: string }[] = [];
  readonly client: PushClient<T>;
  private waiters: (() => void)[] = [];

  constructor(url: string, options: Omit<PushClientOptions, 'url' | 'WebSocket'> = {}) {
    const bind = options.bind;
    this.client = new PushClient<T>({
      ...options,
      url,
      WebSocket: WebSocket as unknown as WebSocketConstructor,
      bind: async (clientId) => {
        this.binds.push(clientId);
        this.wake();
        await bind?.(clientId);
        this.wake();
      },
    });
    this.client.on('message', (data) => this.record(this.messages, data));
    this.client.on('state', (state) => this.record(this.states, state));
    this.client.on('resumed', (event) => this.record(this.resumes, event));
    this.client.on('error', (error) => this.record(this.errors, error));
  }

  /** The client_id now. */
  get clientId(): string {
    return this.client.clientId ?? '';
  }

  /** Resolves once `check` holds (checked now and after every event), or rejects after `ms` saying `what`. */
  until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`${what}: not reached within ${ms} ms (state ${this.client.state}, ` +
          `${this.messages.length} messages, ${this.resumes.length} resumes, ${this.binds.length} binds)`));
      }, ms);
      const waiter = () => {
        if (!check()) return;
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve();
      };
      this.waiters.push(waiter);
    });
  }

  /** Resolves once the client is open (welcomed). */
  open(ms?: number): Promise<void> {
    return this.until('open', () => this.client.state === 'open' && this.client.clientId !== null, ms);
  }

  /** Resolves once `count` messages arrived. */
  received(count: number, ms?: number): Promise<void> {
    return this.until(`${count} messages`, () => this.messages.length >= count, ms);
  }

  /** Resolves once `count` resumed events arrived; returns the last one. */
  async resumed(count = this.resumes.length + 1, ms?: number): Promise<ResumedEvent> {
    await this.until(`${count} resumed events`, () => this.resumes.length >= count, ms);
    return this.resumes[count - 1];
  }

  close(): void {
    this.client.close();
  }

  private record<V>(list: V[], value: V): void {
    list.push(value);
    this.wake();
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

import type { INestApplication } from '@nestjs/common';
import { PushEvents, PushService } from 'nest-push-channel';
import { AppConfig, loadConfig } from '../../src/app.config';
import { createApp } from '../../src/bootstrap';
import { type HttpPlatform, parseHttpPlatform } from '../../src/http/http-platform';

/** A running example app on an ephemeral port, as `npm start` runs it. */
export interface TestApp {
  app: INestApplication;
  /** `http://127.0.0.1:PORT` */
  baseUrl: string;
  /** `ws://127.0.0.1:PORT/ws` (or the configured path) */
  wsUrl: string;
  push: PushService;
  events: PushEvents;
  /** Closes these clients and resolves once the server has processed every close (bindings removed). */
  disconnect(clients: { clientId: string; close(): Promise<unknown> }[]): Promise<void>;
  close(): Promise<void>;
}

/**
 * The HTTP platform the e2e suites run the app on: `HTTP_PLATFORM` of the test run (`express` unless set; the jest
 * project `fastify` sets it, see test/support/jest.fastify.setup.ts). Child processes inherit it.
 */
export const TEST_PLATFORM: HttpPlatform = parseHttpPlatform('HTTP_PLATFORM', process.env.HTTP_PLATFORM);

/**
 * Starts the example app with `listen(0)` on `TEST_PLATFORM`; `push` overrides the push module options, `env` the
 * environment it is configured from (an `HTTP_PLATFORM` there wins).
 */
export async function startApp(push: Partial<AppConfig['push']> = {}, env: NodeJS.ProcessEnv = {}): Promise<TestApp> {
  const config = loadConfig({ COOKIE_SECRET: 'test-secret', HTTP_PLATFORM: TEST_PLATFORM, ...env });
  config.push = { ...config.push, ...push };
  const app = await createApp(config);
  // A suite of the fastify project must never pass on Express by accident.
  const platform = app.getHttpAdapter().getType();
  if (platform !== config.httpPlatform) throw new Error(`asked for ${config.httpPlatform}, got ${platform}`);
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as { port: number };
  const baseUrl = `http://127.0.0.1:${port}`;
  const events = app.get(PushEvents);
  return {
    app,
    baseUrl,
    wsUrl: `ws://127.0.0.1:${port}${config.push.path ?? '/ws'}`,
    push: app.get(PushService),
    events,
    disconnect: async (clients) => {
      const waiting = new Set(clients.map((c) => c.clientId).filter(Boolean));
      const done = waiting.size
        ? new Promise<void>((resolve) => {
            const sub = events.close$.subscribe((e) => {
              waiting.delete(e.clientId);
              if (waiting.size === 0) {
                sub.unsubscribe();
                resolve();
              }
            });
          })
        : Promise.resolve();
      await Promise.all(clients.map((c) => c.close()));
      await done;
    },
    close: () => app.close(),
  };
}

/** A parsed JSON response. */
export interface HttpResult<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

/** Real HTTP requests against a test app, with an optional login cookie. */
export class HttpClient {
  constructor(
    readonly baseUrl: string,
    public cookie?: string,
  ) {}

  /** Logs in as `uid` through `POST /login` and keeps the cookie. */
  async login(uid: string): Promise<this> {
    const res = await this.post('/login', { uid });
    if (res.status !== 200) throw new Error(`login failed: ${res.status} ${JSON.stringify(res.body)}`);
    return this;
  }

  /**
   * POSTs a JSON body (or a urlencoded form with `form: true`, or a raw string with a content type); `headers` are
   * added to the request (e.g. an `Origin` or `Sec-Fetch-Site`, as a browser would send them).
   */
  async post<T = any>(
    path: string,
    body: unknown,
    options: { form?: boolean; raw?: string; contentType?: string; headers?: Record<string, string> } = {},
  ): Promise<HttpResult<T>> {
    const headers: Record<string, string> = { ...options.headers };
    let payload: string;
    if (options.raw !== undefined) {
      payload = options.raw;
      headers['content-type'] = options.contentType ?? 'application/json';
    } else if (options.form) {
      payload = new URLSearchParams(body as Record<string, string>).toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    } else {
      payload = JSON.stringify(body);
      headers['content-type'] = 'application/json';
    }
    return this.request('POST', path, headers, payload);
  }

  /** GETs a path; `headers` are sent as given (e.g. an `Origin`). */
  async get<T = any>(path: string, options: { headers?: Record<string, string> } = {}): Promise<HttpResult<T>> {
    return this.request('GET', path, { ...options.headers }, undefined);
  }

  private async request(method: string, path: string, headers: Record<string, string>, body?: string) {
    // A `cookie` given in the request's own headers wins over the kept one.
    if (this.cookie && headers.cookie === undefined) headers.cookie = this.cookie;
    const res = await fetch(this.baseUrl + path, { method, headers, body });
    const setCookie = res.headers.getSetCookie();
    if (setCookie.length) this.cookie = setCookie.map((c) => c.split(';')[0]).join('; ');
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, body: parsed as any, headers: res.headers };
  }
}

/**
 * The example app's HTTP API as the soak uses it: JSON in and out over keep-alive `node:http` agents (no
 * dependency, and far cheaper than a fetch per request at a few hundred requests a second), every request with a
 * hard timeout so a hung node shows up as an error instead of a stuck soak.
 */
import * as http from 'node:http';

export interface AppReply<T = any> {
  status: number;
  body: T;
  /** The `name=value` pairs of the reply's Set-Cookie headers, as a Cookie header ('' when none). */
  cookie: string;
}

export interface AppRequest {
  cookie?: string;
  body?: unknown;
  timeoutMs?: number;
  /**
   * Send it again, once, when a reused keep-alive connection turns out to have been closed by the server (reset
   * before any answer): the known race of keep-alive, where the request never reached the app (Node's docs
   * suggest exactly this retry). Only for requests that may safely run twice (login, bind, join, /stats), never
   * for a push.
   */
  retryStaleSocket?: boolean;
}

let staleSocketRetries = 0;

/** How many requests of this process were sent again after a keep-alive race (reported, so none is hidden). */
export function staleSocketRetryCount(): number {
  return staleSocketRetries;
}

/**
 * A keep-alive agent for one load source; `maxSockets` bounds the connections it opens to each node. FIFO, so
 * under steady load every pooled connection is reused in turn and none idles into the server's keep-alive
 * timeout (5 s), where reusing it races the server closing it.
 */
export function keepAliveAgent(maxSockets = 32): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets, scheduling: 'fifo' });
}

/** One JSON request to `base` (`http://127.0.0.1:PORT`). Rejects on network errors and timeouts only. */
export async function appRequest<T = any>(
  agent: http.Agent,
  base: string,
  method: 'GET' | 'POST',
  path: string,
  options: AppRequest = {},
): Promise<AppReply<T>> {
  try {
    return await sendOnce<T>(agent, base, method, path, options);
  } catch (error) {
    const { code, reusedSocket } = error as { code?: string; reusedSocket?: boolean };
    if (!options.retryStaleSocket || !reusedSocket || (code !== 'ECONNRESET' && code !== 'EPIPE')) throw error;
    staleSocketRetries++;
    return sendOnce<T>(agent, base, method, path, options);
  }
}

function sendOnce<T>(
  agent: http.Agent,
  base: string,
  method: 'GET' | 'POST',
  path: string,
  options: AppRequest = {},
): Promise<AppReply<T>> {
  const url = new URL(path, base);
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  const headers: Record<string, string | number> = {};
  if (payload !== undefined) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = Buffer.byteLength(payload);
  }
  if (options.cookie) headers.cookie = options.cookie;
  const timeoutMs = options.timeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    const req = http.request(
      { agent, host: url.hostname, port: url.port, path: url.pathname + url.search, method, headers },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            // not JSON: keep the text, the caller reports it
          }
          const cookie = (res.headers['set-cookie'] ?? []).map((c) => c.split(';')[0]).join('; ');
          resolve({ status: res.statusCode ?? 0, body: body as T, cookie });
        });
        res.on('error', reject);
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)));
    req.on('error', (error: Error & { reusedSocket?: boolean }) => {
      error.reusedSocket = req.reusedSocket;
      reject(error);
    });
    req.end(payload);
  });
}

/** `POST /login {uid}` and the Cookie header it sets (fails unless the app answered 200 with a cookie). */
export async function login(agent: http.Agent, base: string, uid: string, timeoutMs?: number): Promise<string> {
  const reply = await appRequest(agent, base, 'POST', '/login', { body: { uid }, timeoutMs, retryStaleSocket: true });
  if (reply.status !== 200 || !reply.cookie) {
    throw new Error(`POST /login {uid: ${uid}} on ${base}: ${reply.status} ${JSON.stringify(reply.body)}`);
  }
  return reply.cookie;
}

export interface AppStats {
  clients: number;
  uids: number;
  groups: number;
}

/** `GET /stats`: the cluster-wide counts of the index. */
export async function stats(agent: http.Agent, base: string, timeoutMs = 5_000): Promise<AppStats> {
  const reply = await appRequest<AppStats>(agent, base, 'GET', '/stats', { timeoutMs, retryStaleSocket: true });
  if (reply.status !== 200) throw new Error(`GET /stats on ${base}: ${reply.status} ${JSON.stringify(reply.body)}`);
  return reply.body;
}

/** A short description of a failed request, for the report. */
export function describeReply(reply: AppReply): string {
  const body = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
  return `${reply.status} ${body.length > 160 ? body.slice(0, 160) + '…' : body}`;
}

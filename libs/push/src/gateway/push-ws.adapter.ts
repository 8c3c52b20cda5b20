import { WsAdapter } from '@nestjs/platform-ws';
import type { MessageMappingProperties } from '@nestjs/websockets/gateway-metadata-explorer';
import * as http from 'node:http';
import type { Duplex } from 'node:stream';
import type { Observable } from 'rxjs';
import { PushMetrics } from '../push-metrics.service';

type PathServer = { path: string; handleUpgrade: Function; emit: Function };

/**
 * Nest's `WsAdapter` with the fixes a push server wants. An upgrade on an unknown path gets a `404` with a JSON
 * body instead of a reset connection, so a misconfigured client can tell what is wrong. And a gateway without
 * `@SubscribeMessage` handlers (like the push gateway) gets no per-frame JSON parsing and rxjs pipeline it would
 * never use. Client protocol errors are not logged as server errors. Use it in place of `WsAdapter`: `app.useWebSocketAdapter(new PushWsAdapter(app))`.
 *
 * It works the same on `@nestjs/platform-express` and `@nestjs/platform-fastify`: both hand it the Node HTTP server
 * (`app.getHttpServer()`) before it listens, and it answers that server's `upgrade` events itself; on Fastify that
 * includes the extra servers Fastify opens when `localhost` resolves to several addresses, whose upgrades Fastify
 * forwards to its main server.
 */
export class PushWsAdapter extends WsAdapter {
  private metrics: PushMetrics | null | undefined;

  /** `app` as for `WsAdapter`; given the app (not a bare HTTP server), refused upgrades are counted in its `PushMetrics`. */
  constructor(private readonly app?: ConstructorParameters<typeof WsAdapter>[0]) {
    super(app);
  }

  override bindMessageHandlers(
    client: unknown,
    handlers: MessageMappingProperties[],
    transform: (data: unknown) => Observable<unknown>,
  ): void {
    if (handlers.length === 0) return;
    super.bindMessageHandlers(client, handlers, transform);
  }

  /**
   * A client that breaks the protocol (oversized or malformed frame) is the client's fault, is answered with a
   * close code and counted in `PushMetrics`: it is logged at debug level instead of as a server error.
   */
  override bindErrorHandler(server: any): any {
    server.on('connection', (ws: { on: Function }) =>
      ws.on('error', (error: Error & { code?: string }) => {
        if (error.code?.startsWith('WS_ERR_')) this.logger.debug?.(`client protocol error: ${error.message}`);
        else this.logger.warn(`socket error: ${error.message}`);
      }),
    );
    server.on('error', (error: Error) => this.logger.error(error));
    return server;
  }

  protected override ensureHttpServerExists(port: number, httpServer = http.createServer()) {
    if (this.httpServersRegistry.has(port)) return;
    this.httpServersRegistry.set(port, httpServer);
    httpServer.on('upgrade', (request: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      let pathname: string;
      try {
        pathname = new URL(request.url ?? '/', 'ws://localhost').pathname;
      } catch {
        this.countUnknownPath();
        return rejectUpgrade(socket, 400, 'Bad Request', 'malformed upgrade URL');
      }
      const servers: PathServer[] = this.wsServersRegistry.get(port) ?? [];
      const target = servers.find((server) => server.path === pathname);
      if (!target) {
        this.countUnknownPath();
        return rejectUpgrade(socket, 404, 'Not Found', `no WebSocket endpoint at ${pathname}`);
      }
      target.handleUpgrade(request, socket, head, (ws: unknown) => target.emit('connection', ws, request));
    });
    return httpServer;
  }

  /**
   * Nothing refused is silent: the adapter answers these upgrades before any gateway sees them, so it counts them
   * itself, in the module's `PushMetrics` found through the app (looked up once; an app without PushModule, or an
   * adapter built on a bare HTTP server, has none to count in).
   */
  private countUnknownPath(): void {
    if (this.metrics === undefined) {
      const app = this.app as { get?: (token: unknown, options: { strict: boolean }) => PushMetrics } | undefined;
      try {
        this.metrics = typeof app?.get === 'function' ? app.get(PushMetrics, { strict: false }) : null;
      } catch {
        this.metrics = null;
      }
    }
    if (this.metrics) this.metrics.rejectedUpgrades.unknownPath++;
  }
}

function rejectUpgrade(socket: Duplex, status: number, text: string, message: string): void {
  const body = JSON.stringify({ statusCode: status, error: text, message });
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

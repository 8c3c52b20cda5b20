import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { PushWsAdapter } from 'nest-push-channel';
import type { AppConfig } from './app.config';
import { AppModule } from './app.module';
import { bodyErrorHandler } from './http/body-error.handler';
import { sameOriginOnly } from './http/same-origin.middleware';

/**
 * Creates the example app, fully configured but not yet listening: `main.ts` and every e2e test share it, so the
 * tests run exactly what `npm start` runs.
 */
export async function createApp(config: AppConfig): Promise<NestExpressApplication> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config), {
    bodyParser: false,
    logger: process.env.NODE_ENV === 'test' ? ['error', 'warn'] : undefined,
  });
  // Without a WebSocket adapter Nest exits ("No driver (WebSockets) has been selected").
  app.useWebSocketAdapter(new PushWsAdapter(app));
  // API responses: no ETag (a SHA-1 of every body, useless for POSTs) and no framework banner.
  app.set('etag', false);
  app.disable('x-powered-by');
  // Cross-site (CSRF) check on every state-changing request, before any body is read: see same-origin.middleware.
  // Trusted beside the app's own origin: the WebSocket allow-list (PUSH_ALLOWED_ORIGINS).
  app.use(sameOriginOnly(config.push.allowedOrigins));
  app.useBodyParser('json', { limit: config.bodyLimit });
  app.useBodyParser('urlencoded', { limit: config.bodyLimit, extended: false });
  app.use(bodyErrorHandler(config.bodyLimit));
  return app;
}

import type { DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { AppConfig } from '../app.config';
import { bodyErrorHandler } from './body-error.handler';
import { sameOriginOnly } from './same-origin.middleware';

/**
 * The example app on `@nestjs/platform-express`: the CSRF check before any body is read, body-parser's JSON and
 * form parsers with the app's limit, their errors as JSON, no ETag, no `X-Powered-By`.
 */
export async function createExpressApp(module: DynamicModule, config: AppConfig): Promise<NestExpressApplication> {
  const app = await NestFactory.create<NestExpressApplication>(module, {
    bodyParser: false,
    logger: process.env.NODE_ENV === 'test' ? ['error', 'warn'] : undefined,
  });
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

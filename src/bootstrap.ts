import type { INestApplication } from '@nestjs/common';
import { PushWsAdapter } from 'nest-push-channel';
import type { AppConfig } from './app.config';
import { AppModule } from './app.module';
import { createExpressApp } from './http/express-platform';
import { createFastifyApp } from './http/fastify-platform';

/**
 * Creates the example app, fully configured but not yet listening, on the HTTP platform of `config.httpPlatform`
 * (`HTTP_PLATFORM`): `main.ts`, every e2e test and the bench share it, so the tests run exactly what `npm start` runs.
 */
export async function createApp(config: AppConfig): Promise<INestApplication> {
  const module = AppModule.forRoot(config);
  const app =
    config.httpPlatform === 'fastify' ? await createFastifyApp(module, config) : await createExpressApp(module, config);
  // Without a WebSocket adapter Nest exits ("No driver (WebSockets) has been selected").
  app.useWebSocketAdapter(new PushWsAdapter(app));
  return app;
}

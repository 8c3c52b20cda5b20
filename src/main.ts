import { Logger } from '@nestjs/common';
import { loadConfig } from './app.config';
import { createApp } from './bootstrap';

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = new Logger('Main');
  if (config.cookieSecretGenerated) {
    logger.warn('COOKIE_SECRET is not set: a random one was drawn, logins will not survive a restart or cross nodes');
  }
  const app = await createApp(config);
  // SIGTERM / SIGINT run the gateway's drain: clients get 1001 and new upgrades are refused (either platform: Nest
  // runs the drain in beforeApplicationShutdown, before it closes the HTTP server).
  app.enableShutdownHooks(undefined, { useProcessExit: true });
  await app.listen(config.port, config.host ?? '0.0.0.0');
  const role = config.push.gateway === false ? 'push-only node' : `WebSocket at ${config.push.path}`;
  logger.log(`push demo on ${await app.getUrl()} (${role}, HTTP on ${config.httpPlatform})`);
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

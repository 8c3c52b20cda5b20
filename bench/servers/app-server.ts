/**
 * Our side of the HTTP-push scenario: the real example app (`createApp` from `src/bootstrap.ts` with
 * `loadConfig`, exactly what `npm start` runs: Express or Fastify (`--platform=express|fastify`, as
 * `HTTP_PLATFORM`), cookie login, guards, body parsers, the real `POST /login`, `POST /bind` and `POST /send`
 * controllers), memory engine, plus the bench control channel for counts, CPU and memory. Clients are bound
 * through the real `POST /login` + `POST /bind` by the load generators, not through the control channel.
 */
import '../lib/alias';
import { PushService } from '../../libs/push/src';
import { loadConfig } from '../../src/app.config';
import { createApp } from '../../src/bootstrap';
import { announceReady, startControl } from './control';
import { guardChild } from '../lib/ipc';
import { parseArgs } from '../lib/common';
import { applyContentTypeParserFix } from './fastify-parser-fix';

guardChild();

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const platform = args.platform ?? 'express';
  if (args['parser-fix'] === 'true') applyContentTypeParserFix(); // an experiment: see fastify-parser-fix.ts
  const config = loadConfig({
    HTTP_PLATFORM: platform,
    COOKIE_SECRET: 'bench-cookie-secret', // clients log in through POST /login
    PORT: '0',
    HOST: '127.0.0.1',
    // Heartbeat out of the measuring windows, as in the other bench servers.
    PUSH_HEARTBEAT_INTERVAL_MS: '600000',
    PUSH_HEARTBEAT_TIMEOUT_MS: '1200000',
  });
  // The load generators open thousands of sockets from each of a few loopback addresses.
  config.push.maxConnectionsPerAddress = Infinity;
  const app = await createApp(config);
  app.useLogger(['error', 'warn']);
  const running = app.getHttpAdapter().getType();
  if (running !== platform) throw new Error(`asked for ${platform}, the app runs on ${running}`);
  await app.listen(0, '127.0.0.1');
  const push = app.get(PushService);
  startControl(`app-${platform}`, {
    clients: () => push.getAllClientIdCount(),
    groupCount: ({ group }) => push.getClientIdCountByGroup(group),
    uidCount: () => push.getAllUidCount(),
  });
  announceReady((app.getHttpServer().address() as { port: number }).port);
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

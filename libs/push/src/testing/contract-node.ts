import { type DynamicModule, type INestApplication, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { AddressInfo } from 'node:net';
import { PushWsAdapter } from '../gateway/push-ws.adapter';
import type { PushEngineOption } from '../interfaces/push-module-options.interface';
import { PushEvents } from '../push-events.service';
import { PushModule } from '../push.module';
import { PushService } from '../push.service';
import { type OptionalPeer, requireOptionalPeer } from '../util/optional-peer';

/**
 * Builds a node's Nest application from its module, not listening yet. The suite then sets the WebSocket adapter
 * (`PushWsAdapter`) and listens on `127.0.0.1`, port 0.
 */
export type ContractAppFactory = (module: DynamicModule) => Promise<INestApplication>;

/** What the default node needs (not a peer of the package: only this default uses it). */
const EXPRESS: OptionalPeer = {
  name: '@nestjs/platform-express',
  range: '^11.0.0',
  feature: "the contract suite's default node (nest-push-channel/testing; or pass `createApp` for another platform)",
};

/**
 * The default node: `NestFactory.create` on `@nestjs/platform-express` (which must be installed; an app on
 * Fastify passes its own factory), logging warnings and errors only. `abortOnError: false` makes a node that
 * fails to start (an engine whose backend is down, say) reject, where Nest's default would abort the process and
 * the test runner with it.
 */
export const defaultContractApp: ContractAppFactory = async (module) => {
  // Without Express, Nest would log one line and exit the process, the test runner with it.
  requireOptionalPeer(EXPRESS);
  return NestFactory.create(module, { logger: ['error', 'warn'], abortOnError: false });
};

/** A running node of the contract suite: a minimal Nest app with nothing but `PushModule`. */
export interface ContractNode {
  /** Its `PushService`. */
  push: PushService;
  /** Its connection events (only a gateway node has any). */
  events: PushEvents;
  /** `ws://127.0.0.1:PORT/ws`, or null on a push-only node. */
  wsUrl: string | null;
  /** Closes the app (the module drains, then closes the engine). */
  close(): Promise<void>;
}

/** The root module of a contract node; `startContractNode` gives it `PushModule` as a dynamic import. */
@Module({})
class PushContractNodeModule {}

/** Starts one node on `engine`, with the WebSocket gateway on or off (a push-only node). */
export async function startContractNode(
  engine: PushEngineOption,
  gateway: boolean,
  createApp: ContractAppFactory = defaultContractApp,
): Promise<ContractNode> {
  const path = '/ws';
  const app = await createApp({
    module: PushContractNodeModule,
    imports: [PushModule.forRoot({ engine, gateway, path })],
  });
  try {
    app.useWebSocketAdapter(new PushWsAdapter(app));
    // With the host given, the address is 127.0.0.1 (without it, it can be [::1]).
    await app.listen(0, '127.0.0.1');
  } catch (error) {
    // The start failure is what the caller needs to see; a second failure while closing would hide it.
    await app.close().catch(() => undefined);
    throw error;
  }
  const { port } = app.getHttpServer().address() as AddressInfo;
  return {
    push: app.get(PushService),
    events: app.get(PushEvents),
    wsUrl: gateway ? `ws://127.0.0.1:${port}${path}` : null,
    close: () => app.close(),
  };
}

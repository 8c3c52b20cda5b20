import type { PushEngineOption } from '../interfaces/push-module-options.interface';
import { ContractClient } from './contract-client';
import { type ContractAppFactory, type ContractNode, startContractNode } from './contract-node';
import { type ContractTestFramework, globalTestFramework } from './contract-test-framework';
import { type ContractEnv, definePushContractCases } from './push-engine-contract.cases';

/** What the contract suite runs against: the engine, and how many nodes it spans. */
export interface PushEngineContractSetup {
  /**
   * Makes the engine of one node: a new instance on each call (an engine belongs to one node), or the options of a
   * built-in engine (`{ type: 'redis', url, prefix }`). Called when the nodes start (in a `beforeAll`), so it may
   * read state that an earlier hook of the test file set up, such as the port of a broker it started. For a
   * cluster engine, the nodes' engines must share one backend and keyspace: they form one cluster.
   */
  createEngine(): PushEngineOption | Promise<PushEngineOption>;
  /**
   * `false` (default): a one-process engine, run on one node that holds the sockets and takes the calls.
   * `true`: an engine that spans processes. The suite starts two gateway nodes, which hold the sockets (clients
   * alternate between them), and one push-only node (`gateway: false`), and runs every case twice: called from the
   * push-only node (every call crosses nodes), then from a gateway node (some calls are local to the holder).
   */
  cluster?: boolean;
  /**
   * Builds each node's Nest application from the module the suite gives it (`PushModule.forRoot({ engine, … })`),
   * not listening yet. Default: `NestFactory.create(module)` on `@nestjs/platform-express`, which must then be
   * installed; on Fastify pass `(module) => NestFactory.create(module, new FastifyAdapter(), { abortOnError: false })`.
   */
  createApp?: ContractAppFactory;
}

/**
 * Registers the push engine contract: every call of `PushService` (send, bind, control, session, online, lookups,
 * counts and lists), run through real Nest apps and real WebSocket clients against the engine `setup` makes. Each
 * node is a minimal Nest app of the suite's own: `PushModule.forRoot({ engine })`, `PushWsAdapter`, listening on
 * `127.0.0.1` port 0; nothing of the application under test is started.
 *
 * `t` is the test runner's `describe` / `it` / hooks; by default the globals (Jest, Vitest with globals). See
 * `ContractTestFramework` for Mocha and node:test. Timeouts are the runner's: a case takes a few round trips to
 * the engine's backend, and the first hook starts every node (allow 30 s for an engine with a network backend).
 *
 * A case that fails names the call whose answer broke the contract (`node:assert` messages).
 */
export function describePushEngineContract(
  name: string,
  setup: PushEngineContractSetup,
  t: ContractTestFramework = globalTestFramework(),
): void {
  t.describe(`PushEngine contract (${name})`, () => {
    const nodes: ContractNode[] = [];
    /** Starts one node per entry, in order: `true` for a gateway node, `false` for a push-only one. */
    const start = async (gateways: boolean[]) => {
      for (const gateway of gateways) {
        nodes.push(await startContractNode(await setup.createEngine(), gateway, setup.createApp));
      }
    };
    t.afterAll(async () => {
      for (const node of nodes.splice(0)) await node.close();
    });

    if (!setup.cluster) {
      t.beforeAll(() => start([true]));
      definePushContractCases(t, once(() => onOneNode(nodes[0])));
      return;
    }

    t.beforeAll(() => start([true, true, false]));
    t.describe('called from the push-only node', () => {
      definePushContractCases(t, once(() => acrossNodes(nodes, nodes[2])));
    });
    t.describe('called from a gateway node', () => {
      definePushContractCases(t, once(() => acrossNodes(nodes, nodes[0])));
    });
  });
}

/** Clients connect to `node`, and calls go through it. */
function onOneNode(node: ContractNode): ContractEnv {
  return {
    push: node.push,
    events: [node.events],
    connect: () => ContractClient.connect(node.wsUrl!),
  };
}

/** Clients alternate between the gateway nodes; calls go through `caller`. */
function acrossNodes(nodes: ContractNode[], caller: ContractNode): ContractEnv {
  const gateways = nodes.filter((node) => node.wsUrl !== null);
  let turn = 0;
  return {
    push: caller.push,
    events: gateways.map((node) => node.events),
    connect: () => ContractClient.connect(gateways[turn++ % gateways.length].wsUrl!),
  };
}

/** `make()` on the first call (once the nodes run), the same value after. */
function once<T>(make: () => T): () => T {
  let value: { made: T } | undefined;
  return () => (value ??= { made: make() }).made;
}

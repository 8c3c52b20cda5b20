import type { SendResult } from '../interfaces/send-result.interface';
import { MemoryEngine } from '../engine/memory.engine';
import type { EncodedMessage } from '../message/encoded-message';
import type { ContractTestFramework } from './contract-test-framework';
import { describePushEngineContract, type PushEngineContractSetup } from './push-engine-contract';

/*
 * The suite itself: it must pass a correct engine and fail a broken one, case by case. It is registered with a
 * framework of this file's own (the path a Mocha or node:test user takes), then run here, so that its failures
 * are results to check rather than failures of this file.
 */

/** The outcome of one case: its full name, and the error it failed with (undefined when it passed). */
interface CaseResult {
  name: string;
  error?: unknown;
}

/** A group as registered: hooks, cases and subgroups in order. */
interface Group {
  name: string;
  beforeAll: (() => Promise<void>)[];
  afterAll: (() => Promise<void>)[];
  afterEach: (() => Promise<void>)[];
  children: ({ kind: 'case'; name: string; body: () => Promise<void> } | { kind: 'group'; group: Group })[];
}

/** Registers the suite with a recording framework and runs it the way Jest would: hooks in order, cases in series. */
async function runContract(setup: PushEngineContractSetup): Promise<CaseResult[]> {
  const root: Group = { name: '', beforeAll: [], afterAll: [], afterEach: [], children: [] };
  let current = root;
  const framework: ContractTestFramework = {
    describe: (name, body) => {
      const group: Group = { name, beforeAll: [], afterAll: [], afterEach: [], children: [] };
      current.children.push({ kind: 'group', group });
      const parent = current;
      current = group;
      body();
      current = parent;
    },
    it: (name, body) => void current.children.push({ kind: 'case', name, body }),
    beforeAll: (hook) => void current.beforeAll.push(hook),
    afterAll: (hook) => void current.afterAll.push(hook),
    afterEach: (hook) => void current.afterEach.push(hook),
  };
  describePushEngineContract('under test', setup, framework);

  const results: CaseResult[] = [];
  const run = async (group: Group, path: string[], afterEach: (() => Promise<void>)[]) => {
    const here = group.name ? [...path, group.name] : path;
    const hooksAfterEach = [...group.afterEach, ...afterEach];
    for (const hook of group.beforeAll) await hook();
    try {
      for (const child of group.children) {
        if (child.kind === 'group') {
          await run(child.group, here, hooksAfterEach);
          continue;
        }
        const result: CaseResult = { name: [...here, child.name].join(' > ') };
        try {
          await child.body();
        } catch (error) {
          result.error = error;
        }
        for (const hook of hooksAfterEach) await hook();
        results.push(result);
      }
    } finally {
      for (const hook of group.afterAll) await hook();
    }
  };
  await run(root, [], []);
  return results;
}

const failed = (results: CaseResult[]) => results.filter((r) => r.error !== undefined).map((r) => r.name);

/** Delivers to the connections of the first uid only: a bug only a multi-uid send shows. */
class FirstUidOnlyEngine extends MemoryEngine {
  override sendToUids(uids: string[], message: EncodedMessage): Promise<SendResult> {
    return super.sendToUids(uids.slice(0, 1), message);
  }
}

/** Forgets to drop a closed connection's uid from the uid list. */
class LeakyUidListEngine extends MemoryEngine {
  private readonly seen = new Set<string>();
  override async bindUid(clientId: string, uid: string): Promise<void> {
    await super.bindUid(clientId, uid);
    this.seen.add(uid);
  }
  override async getAllUids(): Promise<string[]> {
    return [...new Set([...(await super.getAllUids()), ...this.seen])];
  }
}

describe('describePushEngineContract', () => {
  it('passes the memory engine on one node, registered with a framework that is not the globals', async () => {
    const results = await runContract({ createEngine: () => new MemoryEngine() });
    expect(results.length).toBe(18);
    expect(failed(results)).toEqual([]);
  });

  it('fails an engine that sends to the first of several uids only, in the case that covers it', async () => {
    const results = await runContract({ createEngine: () => new FirstUidOnlyEngine() });
    expect(failed(results)).toEqual([
      'PushEngine contract (under test) > send > sendToUid reaches every connection of one uid, or of several',
    ]);
  });

  it('fails an engine that keeps listing the uid of a closed connection', async () => {
    const results = await runContract({ createEngine: () => new LeakyUidListEngine() });
    // The first also sees the uids that earlier cases left behind.
    expect(failed(results)).toEqual([
      'PushEngine contract (under test) > counts and lists > answers every count and list of api.md for a known population',
      'PushEngine contract (under test) > counts and lists > a closed connection leaves no trace in any query',
    ]);
  });

  it('fails a one-process engine run as a cluster: calls really cross nodes, from both callers', async () => {
    const results = await runContract({ cluster: true, createEngine: () => new MemoryEngine() });
    expect(results.length).toBe(36);
    const broken = failed(results);
    const fromPushOnly = broken.filter((name) => name.includes('> called from the push-only node >'));
    const fromGateway = broken.filter((name) => name.includes('> called from a gateway node >'));
    // From the push-only node nothing is reachable; from a gateway node, half the clients are on the other one.
    expect(fromPushOnly.length).toBeGreaterThan(12);
    expect(fromGateway.length).toBeGreaterThan(6);
  });
});

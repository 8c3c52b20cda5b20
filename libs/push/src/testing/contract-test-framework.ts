/**
 * The test functions the contract suite registers its cases with. The suite depends on no test runner's types
 * (the package is compiled with Node's types only): any runner whose functions have these shapes works.
 *
 * - Jest, and Vitest with `globals: true`: nothing to pass, the globals are taken.
 * - Vitest without globals: `import { describe, it, beforeAll, afterAll, afterEach } from 'vitest'` and pass them.
 * - Mocha: `{ describe, it, beforeAll: before, afterAll: after, afterEach }` (Mocha's globals).
 * - node:test: `import { describe, it, before, after, afterEach } from 'node:test'` and pass
 *   `{ describe, it, beforeAll: before, afterAll: after, afterEach }`.
 *
 * Hooks and cases are async functions; none takes a `done` callback or a timeout of its own, so set the runner's
 * timeout for the engine (see `describePushEngineContract`).
 */
export interface ContractTestFramework {
  /** Groups cases (Jest's `describe`). */
  describe(name: string, body: () => void): unknown;
  /** One case (Jest's `it` / `test`). */
  it(name: string, body: () => Promise<void>): unknown;
  /** Runs once before the cases of the enclosing group (Mocha and node:test call it `before`). */
  beforeAll(hook: () => Promise<void>): unknown;
  /** Runs once after the cases of the enclosing group (Mocha and node:test call it `after`). */
  afterAll(hook: () => Promise<void>): unknown;
  /** Runs after each case of the enclosing group. */
  afterEach(hook: () => Promise<void>): unknown;
}

const NAMES = ['describe', 'it', 'beforeAll', 'afterAll', 'afterEach'] as const;

/**
 * The runner's globals (Jest, Vitest with `globals: true`). Throws, naming what is missing, when the process has
 * none, rather than failing later with "describe is not defined".
 */
export function globalTestFramework(): ContractTestFramework {
  const scope = globalThis as unknown as Partial<Record<(typeof NAMES)[number], unknown>>;
  const missing = NAMES.filter((name) => typeof scope[name] !== 'function');
  if (missing.length > 0) {
    throw new Error(
      `nest-push-channel/testing: no global ${missing.join(', ')}. Pass your runner's functions as the third ` +
        'argument, for example from node:test: { describe, it, beforeAll: before, afterAll: after, afterEach }',
    );
  }
  const found = scope as unknown as ContractTestFramework;
  return {
    describe: found.describe,
    it: found.it,
    beforeAll: found.beforeAll,
    afterAll: found.afterAll,
    afterEach: found.afterEach,
  };
}

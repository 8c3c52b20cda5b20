/**
 * `nest-push-channel/testing`: the engine contract suite, for authors of a `PushEngine` (another broker, another
 * topology) to run the same cases the built-in engines pass. See `describePushEngineContract`.
 */
export { describePushEngineContract, type PushEngineContractSetup } from './push-engine-contract';
export type { ContractTestFramework } from './contract-test-framework';
export type { ContractAppFactory } from './contract-node';

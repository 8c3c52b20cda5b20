// @ts-check
/**
 * The second Jest project of `npm test`: the e2e suites that concern the gateway and the example app's HTTP
 * contract, run again with the app on Fastify (`HTTP_PLATFORM=fastify`). Everything else is the root config
 * (package.json "jest"), so both projects transform, map `nest-push-channel` and time out alike.
 */
const { resolve } = require('node:path');
const { jest: root } = require('../package.json');

/**
 * Suites re-run on Fastify: the gateway (upgrade checks, limits, drain) and the HTTP contract, in-process and in child
 * processes. Of the engine contract suites, only the memory one: its node runs on Fastify here (through the suite's
 * `createApp`); the Redis one tests the engine across nodes, which no HTTP platform changes, so it runs once.
 */
const SUITES = [
  'seed-flow',
  'push-contract.memory',
  'connection-behaviour',
  'bad-input',
  'app-security',
  'hardening-input',
  'hardening-limits',
  'hardening-registration',
  'hardening-ping-flood',
  'redis-failures',
  'cluster',
  'browser',
  'resume',
  'browser-resume',
  'request-bodies',
  'metrics',
  'health',
  'dashboard',
];

const { projects: _projects, displayName: _displayName, ...shared } = root;

/** @type {import('jest').Config} */
module.exports = {
  ...shared,
  displayName: 'fastify',
  rootDir: resolve(__dirname, '..'),
  roots: ['<rootDir>/test'],
  testRegex: `/test/(${SUITES.map((s) => s.replace(/\./g, '\\.')).join('|')})\\.e2e-spec\\.ts$`,
  setupFiles: [...root.setupFiles, '<rootDir>/test/support/jest.fastify.setup.ts'],
};

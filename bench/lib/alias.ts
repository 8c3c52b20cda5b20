/**
 * Resolves the `nest-push-channel` path mapping at run time for code compiled into `dist-bench/` (the example app in `src/`
 * imports the module by its alias; tsc keeps the specifier as written). Import this first.
 */
import Module = require('node:module');
import { join, resolve } from 'node:path';

const ALIAS = 'nest-push-channel';
/** dist-bench/libs/push/src (this file is dist-bench/bench/lib/alias.js). */
const TARGET = resolve(__dirname, '..', '..', 'libs', 'push', 'src');

type Resolver = (request: string, ...rest: unknown[]) => string;
const moduleWithResolver = Module as unknown as { _resolveFilename: Resolver };
const original = moduleWithResolver._resolveFilename;
moduleWithResolver._resolveFilename = function (this: unknown, request: string, ...rest: unknown[]): string {
  if (request === ALIAS || request.startsWith(`${ALIAS}/`)) request = join(TARGET, request.slice(ALIAS.length));
  return original.call(this, request, ...rest);
};

/**
 * An experiment, never part of the headline figures: what the example app on Fastify would cost with Fastify's
 * content-type parser fix (fastify/fastify#7012, "perf: reduce content-type parser overhead", merged after the
 * 5.11.3 that @nestjs/platform-fastify 11.2.8 pins).
 *
 * Fastify 5.11.3 wraps the callback of every body parse in `AsyncResource.prototype.bind`. On Node 20 that call
 * also defines the deprecated `asyncResource` accessors (DEP0172) on the bound function, each through
 * `util.deprecate`, which re-prototypes a fresh function per call: measured here, it is about 40 % of the app's
 * CPU per request. The fix keeps the async scope with a plain callback that calls `runInAsyncScope`, which is what
 * this does (for every `bind` in the process; the bench server has no other user of the property).
 */
import { AsyncResource } from 'node:async_hooks';

export function applyContentTypeParserFix(): void {
  AsyncResource.prototype.bind = function bind<Func extends (...args: any[]) => any>(
    this: AsyncResource,
    fn: Func,
    thisArg?: unknown,
  ): Func {
    const resource = this;
    if (thisArg !== undefined) return resource.runInAsyncScope.bind(resource, fn, thisArg) as unknown as Func;
    return function (this: unknown, ...args: unknown[]) {
      return resource.runInAsyncScope(fn, this, ...args);
    } as Func;
  };
}

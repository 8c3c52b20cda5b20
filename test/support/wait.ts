import { firstValueFrom, filter, take, timeout, type Observable } from 'rxjs';

/** The first value of `source` that matches, or a rejection after `ms`. Subscribe before triggering the event. */
export function waitFor<T>(source: Observable<T>, predicate: (value: T) => boolean = () => true, ms = 5000): Promise<T> {
  return firstValueFrom(source.pipe(filter(predicate), take(1), timeout(ms)));
}

/** Polls `check` on each macrotask turn until it is truthy (for state that has no event), up to `ms`. */
export async function eventually<T>(check: () => T | Promise<T>, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

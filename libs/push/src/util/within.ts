/**
 * `promise`, or a rejection with `Error(message)` once `ms` have passed (the promise itself keeps running: a
 * subscription confirmed late is still kept). For waits on a backend that may never answer, such as a subscribe
 * whose reply ioredis leaves unsettled after a `MOVED`.
 */
export function within<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

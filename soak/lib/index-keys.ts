/**
 * The Redis engine's index as keys: /stats counts clients, uids and groups, but an entry can leak where no count
 * looks (a dead client's hash, its group list, a node's member set). Comparing the run's key names before and
 * after the churn catches those too.
 */
import Redis from 'ioredis';

/** Keys that come and go on their own (the reaper's short lock), not index entries. */
const TRANSIENT = /(^|:)reap:/;

/** Every key under `prefix`, sorted, without transient ones. */
export async function indexKeys(url: string, prefix: string): Promise<string[]> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 3_000 });
  try {
    await client.connect();
    const keys: string[] = [];
    let cursor = '0';
    for (let round = 0; round < 10_000; round++) {
      const [next, batch] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      keys.push(...batch);
      cursor = next;
      if (cursor === '0') break;
    }
    return [...new Set(keys)]
      .map((key) => key.slice(prefix.length))
      .filter((key) => !TRANSIENT.test(key))
      .sort();
  } finally {
    client.disconnect();
  }
}

export interface KeyDiff {
  extra: string[];
  missing: string[];
}

export function diffKeys(before: string[], after: string[]): KeyDiff {
  const had = new Set(before);
  const has = new Set(after);
  return { extra: after.filter((key) => !had.has(key)), missing: before.filter((key) => !has.has(key)) };
}

/**
 * The Redis engine's index as Redis holds it: key names under the run's prefix, and the pub/sub channels the nodes
 * are subscribed to. /stats counts clients, uids and groups, but an entry can leak where no count looks (a dead
 * client's hash or group list, a node's member set), and a bind that raced its close can leave the node
 * subscribed to a uid or group nobody holds any more. Comparing both before and after the churn catches those.
 */
import Redis from 'ioredis';

/** Keys that come and go on their own (the reaper's short lock), not index entries. */
const TRANSIENT = /(^|:)reap:/;

export interface IndexSnapshot {
  keys: string[];
  channels: string[];
}

/** Every key and subscribed channel under `prefix` (prefix removed), sorted, without transient keys. */
export async function indexSnapshot(url: string, prefix: string): Promise<IndexSnapshot> {
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
    const channels = (await client.call('PUBSUB', 'CHANNELS', `${prefix}*`)) as string[];
    const strip = (list: string[]) => [...new Set(list)].map((name) => name.slice(prefix.length)).sort();
    return { keys: strip(keys).filter((key) => !TRANSIENT.test(key)), channels: strip(channels) };
  } finally {
    client.disconnect();
  }
}

export interface IndexDiff {
  extra: string[];
  missing: string[];
}

export function diffNames(before: string[], after: string[]): IndexDiff {
  const had = new Set(before);
  const has = new Set(after);
  return { extra: after.filter((name) => !had.has(name)), missing: before.filter((name) => !has.has(name)) };
}

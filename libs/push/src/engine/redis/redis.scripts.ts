/*
 * The Lua scripts of the Redis engines. Each receives every name it touches in KEYS (built by `RedisKeys`, never
 * here) and its values in ARGV, and every key of one call shares one hash tag, so each runs on one slot of a Redis
 * Cluster as well as on one Redis. A script that publishes takes the command in ARGV[1]: PUBLISH on one Redis,
 * SPUBLISH (sharded, on the slot's own shard) on a cluster. See redis-keys.ts for the layout.
 */

/** A script: how many of its arguments are KEYS, and its Lua. */
export interface RedisScript {
  keys: number;
  lua: string;
}

const NOW_MS = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`;

/**
 * Lua scripts by name (ioredis commands of the same name). Each has a fixed number of KEYS, the first naming its
 * slot: ioredis's auto-pipelining on a cluster groups commands by their first argument's slot.
 */
export const REDIS_SCRIPTS = {
  /**
   * KEYS: node clients, connection hash, connection groups. ARGV: cid, session, uid|'', ...groups. Writes a
   * connection whole; returns its previous uid|'' followed by its previous groups (so the caller can remove the
   * bindings that changed).
   */
  pushRegister: {
    keys: 3,
    lua: `
local old = redis.call('HGET', KEYS[2], 'uid') or ''
local out = redis.call('SMEMBERS', KEYS[3])
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], 'session', ARGV[2])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[2], 'uid', ARGV[3]) end
for i = 4, #ARGV do redis.call('SADD', KEYS[3], ARGV[i]) end
table.insert(out, 1, old)
return out`,
  },

  /**
   * KEYS: node clients, connection hash, connection groups. ARGV: cid, 1 (delete) | 0 (only read). Returns its
   * uid|'' followed by its groups (the bindings to undo elsewhere), and with 1 deletes it.
   */
  pushForget: {
    keys: 3,
    lua: `
local out = redis.call('SMEMBERS', KEYS[3])
table.insert(out, 1, redis.call('HGET', KEYS[2], 'uid') or '')
if ARGV[2] == '1' then
  redis.call('DEL', KEYS[2], KEYS[3])
  redis.call('SREM', KEYS[1], ARGV[1])
end
return out`,
  },

  /** KEYS: connection hash. ARGV: uid|''. Returns false when the connection is missing, else its previous uid|''. */
  pushSetUid: {
    keys: 1,
    lua: `
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local old = redis.call('HGET', KEYS[1], 'uid') or ''
if ARGV[1] == '' then redis.call('HDEL', KEYS[1], 'uid') else redis.call('HSET', KEYS[1], 'uid', ARGV[1]) end
return old`,
  },

  /** KEYS: connection hash, connection groups. ARGV: group, 1 (join) | 0 (leave). 0 when the connection is missing. */
  pushSetGroup: {
    keys: 2,
    lua: `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[2] == '1' then redis.call('SADD', KEYS[2], ARGV[1]) else redis.call('SREM', KEYS[2], ARGV[1]) end
return 1`,
  },

  /** KEYS: connection hash. ARGV: session JSON. 0 when the connection is missing. */
  pushSetSession: {
    keys: 1,
    lua: `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'session', ARGV[1])
return 1`,
  },

  /**
   * KEYS: the node's hosted set, the count hash. ARGV: name, 1 (hosts) | 0 (no longer). Idempotent: the count moves
   * only when the hosted set changed, so a repeated or late call never counts twice.
   */
  pushHost: {
    keys: 2,
    lua: `
if ARGV[2] == '1' then
  if redis.call('SADD', KEYS[1], ARGV[1]) == 1 then redis.call('HINCRBY', KEYS[2], ARGV[1], 1) end
elseif redis.call('SREM', KEYS[1], ARGV[1]) == 1 then
  if redis.call('HINCRBY', KEYS[2], ARGV[1], -1) <= 0 then redis.call('HDEL', KEYS[2], ARGV[1]) end
end
return 1`,
  },

  /** KEYS: the node's hosted set, the count hash. ARGV: every name the node hosts now. Sets exactly those. */
  pushRehost: {
    keys: 2,
    lua: `
local want = {}
for i = 1, #ARGV do want[ARGV[i]] = true end
for _, name in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if not want[name] then
    redis.call('SREM', KEYS[1], name)
    if redis.call('HINCRBY', KEYS[2], name, -1) <= 0 then redis.call('HDEL', KEYS[2], name) end
  end
end
for i = 1, #ARGV do
  if redis.call('SADD', KEYS[1], ARGV[i]) == 1 then redis.call('HINCRBY', KEYS[2], ARGV[i], 1) end
end
return 1`,
  },

  /**
   * KEYS: nodes, hosted uids, hosted groups, uid counts, group counts, stats. ARGV: node. Removes a node that left
   * or died (after its connections): its hosted names leave the counts, then its liveness and stats go.
   */
  pushForgetNode: {
    keys: 6,
    lua: `
for k = 2, 3 do
  for _, name in ipairs(redis.call('SMEMBERS', KEYS[k])) do
    if redis.call('HINCRBY', KEYS[k + 2], name, -1) <= 0 then redis.call('HDEL', KEYS[k + 2], name) end
  end
end
redis.call('DEL', KEYS[2], KEYS[3], KEYS[6])
redis.call('ZREM', KEYS[1], ARGV[1])
return 1`,
  },

  /** KEYS: nodes. ARGV: node, ttl. Renews a node; returns 1 when it was absent (first start, reaped, data lost). */
  pushHeartbeat: {
    keys: 1,
    lua: `${NOW_MS}
return redis.call('ZADD', KEYS[1], now_ms() + tonumber(ARGV[2]), ARGV[1])`,
  },

  /** KEYS: nodes. Ids of nodes whose liveness expired. */
  pushDeadNodes: {
    keys: 1,
    lua: `${NOW_MS}
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms())`,
  },

  /** KEYS: nodes. ARGV: node. 1 when its liveness has not expired. */
  pushIsAlive: {
    keys: 1,
    lua: `${NOW_MS}
local expiry = redis.call('ZSCORE', KEYS[1], ARGV[1])
if expiry and tonumber(expiry) > now_ms() then return 1 end
return 0`,
  },

  /**
   * KEYS: a member set, its channel. ARGV: publish command, payload, ...excluded client_ids. Publishes when the set
   * has members; returns its size minus the excluded members (a uid's, a group's, or everyone's).
   */
  pushPublishCounted: {
    keys: 2,
    lua: `
local count = redis.call('SCARD', KEYS[1])
if count == 0 then return 0 end
for i = 3, #ARGV do count = count - redis.call('SISMEMBER', KEYS[1], ARGV[i]) end
redis.call(ARGV[1], KEYS[2], ARGV[2])
return count`,
  },

  /**
   * KEYS: a node's clients, its channel. ARGV: publish command, payload, ...client_ids. Publishes when the node holds
   * one of them; returns how many it holds.
   */
  pushPublishToHeld: {
    keys: 2,
    lua: `
local count = 0
for i = 3, #ARGV do count = count + redis.call('SISMEMBER', KEYS[1], ARGV[i]) end
if count > 0 then redis.call(ARGV[1], KEYS[2], ARGV[2]) end
return count`,
  },

  /** KEYS: a group's members, its channel. ARGV: publish command, payload. Empties the group; returns its size. */
  pushDissolve: {
    keys: 2,
    lua: `
local count = redis.call('SCARD', KEYS[1])
if count == 0 then return 0 end
redis.call('DEL', KEYS[1])
redis.call(ARGV[1], KEYS[2], ARGV[2])
return count`,
  },
} as const satisfies Record<string, RedisScript>;

/** Names of the scripts, as ioredis commands. */
export type RedisScriptName = keyof typeof REDIS_SCRIPTS;

/*
 * The Lua scripts of the Redis engines. Each receives every name it touches in KEYS (built by `RedisKeys`, never
 * here) and its values in ARGV, and every key of one call shares one hash tag, so each runs on one slot of a Redis
 * Cluster as well as on one Redis. A script that publishes takes the command in ARGV[1]: PUBLISH on one Redis,
 * SPUBLISH (sharded, on the slot's own shard) on a cluster. See redis-keys.ts for the layout.
 */

/*
 * Which nodes host a uid or group is kept twice, as members of two sorted sets scored 0 and read by lexical range:
 * `name NUL node` (all nodes of a name: what `ungroup` clears) and `node NUL name` (all names of a node: what a
 * leaving or dead node takes with it). Every node id has one length (given to the script that needs it), so a
 * member splits unambiguously.
 */
const HOSTS = `
local function host(name, node)
  if redis.call('ZADD', KEYS[1], 0, name .. '\\0' .. node) == 1 then
    redis.call('ZADD', KEYS[2], 0, node .. '\\0' .. name)
    redis.call('HINCRBY', KEYS[3], name, 1)
  end
end
local function unhost(name, node)
  if redis.call('ZREM', KEYS[1], name .. '\\0' .. node) == 1 then
    redis.call('ZREM', KEYS[2], node .. '\\0' .. name)
    if redis.call('HINCRBY', KEYS[3], name, -1) <= 0 then redis.call('HDEL', KEYS[3], name) end
  end
end
local function hosted_by(node)
  local prefix, names = node .. '\\0', {}
  for _, member in ipairs(redis.call('ZRANGEBYLEX', KEYS[2], '[' .. prefix, '[' .. prefix .. '\\255')) do
    names[#names + 1] = string.sub(member, #prefix + 1)
  end
  return names
end
`;

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
   * connection whole, replacing what was there (the caller read the previous bindings first, with \`pushForget\`).
   */
  pushRegister: {
    keys: 3,
    lua: `
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], 'session', ARGV[2])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[2], 'uid', ARGV[3]) end
for i = 4, #ARGV do redis.call('SADD', KEYS[3], ARGV[i]) end
return 1`,
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
   * KEYS: hosts by name, hosts by node, the count hash (of uids or of groups). ARGV: name, node, 1 (hosts) | 0 (no
   * longer). Idempotent: the count moves only when the hosting changed, so a repeated or late call never counts
   * twice.
   */
  pushHost: {
    keys: 3,
    lua: `${HOSTS}
if ARGV[3] == '1' then host(ARGV[1], ARGV[2]) else unhost(ARGV[1], ARGV[2]) end
return 1`,
  },

  /** KEYS: hosts by name, hosts by node, the count hash. ARGV: node, ...every name it hosts now. Sets exactly those. */
  pushRehost: {
    keys: 3,
    lua: `${HOSTS}
local node, want = ARGV[1], {}
for i = 2, #ARGV do want[ARGV[i]] = true end
for _, name in ipairs(hosted_by(node)) do
  if not want[name] then unhost(name, node) end
end
for i = 2, #ARGV do host(ARGV[i], node) end
return 1`,
  },

  /**
   * KEYS: hosts by name, hosts by node, the count hash. ARGV: name, the length of a node id. No node hosts it any
   * more (\`ungroup\`): the count is right at once, before each node hears of it and drops its members.
   */
  pushUnhostAll: {
    keys: 3,
    lua: `${HOSTS}
local name, idLength = ARGV[1], tonumber(ARGV[2])
local from, to = '[' .. name .. '\\0', '[' .. name .. '\\0\\255'
for _, member in ipairs(redis.call('ZRANGEBYLEX', KEYS[1], from, to)) do
  -- A longer name that starts with this one and a NUL is another name: every node id has the same length.
  if #member == #name + 1 + idLength then unhost(name, string.sub(member, -idLength)) end
end
redis.call('HDEL', KEYS[3], name)
return 1`,
  },

  /**
   * KEYS: nodes, stats, then (hosts by name, hosts by node, counts) of uids, then of groups. ARGV: node. Removes a
   * node that left or died (after its connections): its hosted names leave the counts, then its liveness and stats.
   */
  pushForgetNode: {
    keys: 8,
    lua: `
for k = 3, 6, 3 do
  local byName, byNode, counts = KEYS[k], KEYS[k + 1], KEYS[k + 2]
  local prefix = ARGV[1] .. '\\0'
  for _, member in ipairs(redis.call('ZRANGEBYLEX', byNode, '[' .. prefix, '[' .. prefix .. '\\255')) do
    local name = string.sub(member, #prefix + 1)
    redis.call('ZREM', byNode, member)
    if redis.call('ZREM', byName, name .. '\\0' .. ARGV[1]) == 1 then
      if redis.call('HINCRBY', counts, name, -1) <= 0 then redis.call('HDEL', counts, name) end
    end
  end
end
redis.call('DEL', KEYS[2])
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

/*
 * The Redis engine's index lives in these keys (P is the prefix, `push:` by default):
 *
 *   P nodes          zset   node id → expiry (ms, Redis clock)      liveness of every node
 *   P n:<node>       set    client_ids held by a node                what a crash leaves for the reaper
 *   P c:<cid>        hash   uid, session (JSON)                      one connection
 *   P cg:<cid>       set    its groups
 *   P u:<uid>        set    client_ids bound to a uid
 *   P g:<group>      set    client_ids in a group
 *   P clients / uids / groups   sets of everything live             answers "all" queries without scanning
 *   P node-stats:<node>  string  the node's NodeStats JSON, PX 3 × interval   the dashboard (plain SET/MGET, no script)
 *
 * Only the node that holds a connection writes its entries (single writer), always through one of these scripts,
 * so each change is atomic and the "all" sets never keep an empty uid or group. The node part of a client_id is
 * its first 16 characters. Scripts build key names from the prefix, so they assume one Redis (not Cluster): see
 * the README's notes on Redis Cluster. Channels are `P ch:…`; on a database other than 0 the engine's P carries
 * the database (`push:db1:`), because pub/sub is server-wide and would otherwise join apps on different databases.
 */

const DROP = `
local function drop(p, cid)
  local ckey = p .. 'c:' .. cid
  local uid = redis.call('HGET', ckey, 'uid')
  if uid then
    local ukey = p .. 'u:' .. uid
    redis.call('SREM', ukey, cid)
    if redis.call('SCARD', ukey) == 0 then redis.call('SREM', p .. 'uids', uid) end
  end
  local gkey = p .. 'cg:' .. cid
  for _, g in ipairs(redis.call('SMEMBERS', gkey)) do
    local k = p .. 'g:' .. g
    redis.call('SREM', k, cid)
    if redis.call('SCARD', k) == 0 then redis.call('SREM', p .. 'groups', g) end
  end
  redis.call('DEL', ckey, gkey)
  redis.call('SREM', p .. 'clients', cid)
  redis.call('SREM', p .. 'n:' .. string.sub(cid, 1, 16), cid)
end
local function setuid(p, cid, uid)
  local ckey = p .. 'c:' .. cid
  local old = redis.call('HGET', ckey, 'uid')
  if old == uid then return end
  if old then
    local okey = p .. 'u:' .. old
    redis.call('SREM', okey, cid)
    if redis.call('SCARD', okey) == 0 then redis.call('SREM', p .. 'uids', old) end
  end
  if uid == '' then
    redis.call('HDEL', ckey, 'uid')
  else
    redis.call('HSET', ckey, 'uid', uid)
    redis.call('SADD', p .. 'u:' .. uid, cid)
    redis.call('SADD', p .. 'uids', uid)
  end
end
local function join(p, cid, g)
  redis.call('SADD', p .. 'cg:' .. cid, g)
  redis.call('SADD', p .. 'g:' .. g, cid)
  redis.call('SADD', p .. 'groups', g)
end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`;

/** Publishes `payload` once to each node (but `origin`) that holds one of `cids`; returns how many cids. */
const PUBLISH_TO_HOLDERS = `
local function publish_to_holders(p, origin, payload, cids)
  local nodes = {}
  for _, cid in ipairs(cids) do nodes[string.sub(cid, 1, 16)] = true end
  for node in pairs(nodes) do
    if node ~= origin then redis.call('PUBLISH', p .. 'ch:node:' .. node, payload) end
  end
  return #cids
end
`;

/** Lua scripts by name; each takes no KEYS and its arguments in ARGV, ARGV[1] being the prefix. */
export const REDIS_SCRIPTS = {
  /** (p, node, cid, uid|'', session, ...groups) — writes a connection whole, replacing what was there. */
  pushRegister: `${DROP}
local p, node, cid, uid = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
drop(p, cid)
redis.call('SADD', p .. 'clients', cid)
redis.call('SADD', p .. 'n:' .. node, cid)
redis.call('HSET', p .. 'c:' .. cid, 'session', ARGV[5])
if uid ~= '' then setuid(p, cid, uid) end
for i = 6, #ARGV do join(p, cid, ARGV[i]) end
return 1`,

  /** (p, ...cids) — removes connections and every binding they had. */
  pushUnregister: `${DROP}
for i = 2, #ARGV do drop(ARGV[1], ARGV[i]) end
return 1`,

  /** (p, cid, uid|'') — binds (or with '' unbinds). 0 when the client is not in the index. */
  pushSetUid: `${DROP}
local p, cid = ARGV[1], ARGV[2]
if redis.call('EXISTS', p .. 'c:' .. cid) == 0 then return 0 end
setuid(p, cid, ARGV[3])
return 1`,

  /** (p, cid, group) */
  pushJoin: `${DROP}
local p, cid = ARGV[1], ARGV[2]
if redis.call('EXISTS', p .. 'c:' .. cid) == 0 then return 0 end
join(p, cid, ARGV[3])
return 1`,

  /** (p, cid, group) */
  pushLeave: `
local p, cid, g = ARGV[1], ARGV[2], ARGV[3]
if redis.call('EXISTS', p .. 'c:' .. cid) == 0 then return 0 end
redis.call('SREM', p .. 'cg:' .. cid, g)
local k = p .. 'g:' .. g
redis.call('SREM', k, cid)
if redis.call('SCARD', k) == 0 then redis.call('SREM', p .. 'groups', g) end
return 1`,

  /** (p, cid, sessionJson) */
  pushSetSession: `
local p, cid = ARGV[1], ARGV[2]
if redis.call('EXISTS', p .. 'c:' .. cid) == 0 then return 0 end
redis.call('HSET', p .. 'c:' .. cid, 'session', ARGV[3])
return 1`,

  /** (p, group, channel, payload) — dissolves a group in the index and tells its nodes; returns its size. */
  pushUngroup: `
local p, g = ARGV[1], ARGV[2]
local k = p .. 'g:' .. g
local members = redis.call('SMEMBERS', k)
for _, cid in ipairs(members) do redis.call('SREM', p .. 'cg:' .. cid, g) end
redis.call('DEL', k)
redis.call('SREM', p .. 'groups', g)
if #members > 0 then redis.call('PUBLISH', ARGV[3], ARGV[4]) end
return #members`,

  /** (p, node, batch) — removes up to \`batch\` connections of a dead node; returns how many are left. */
  pushReap: `${DROP}
local p, node = ARGV[1], ARGV[2]
local nkey = p .. 'n:' .. node
local cids = redis.call('SPOP', nkey, tonumber(ARGV[3]))
for _, cid in ipairs(cids) do drop(p, cid) end
local left = redis.call('SCARD', nkey)
if left == 0 then redis.call('ZREM', p .. 'nodes', node) end
return left`,

  /** (p, node, ttl) — renews a node; returns 1 when it was absent (first start, reaped, or Redis lost data). */
  pushHeartbeat: `${DROP}
return redis.call('ZADD', ARGV[1] .. 'nodes', now_ms() + tonumber(ARGV[3]), ARGV[2])`,

  /** (p) — ids of nodes whose liveness has expired. */
  pushDeadNodes: `${DROP}
return redis.call('ZRANGEBYSCORE', ARGV[1] .. 'nodes', '-inf', now_ms())`,

  /** (p, payload, ...uids) — publishes to each uid's channel; returns how many connections the uids have. */
  pushSendUids: `
local p, payload, count = ARGV[1], ARGV[2], 0
for i = 3, #ARGV do
  local n = redis.call('SCARD', p .. 'u:' .. ARGV[i])
  if n > 0 then
    count = count + n
    redis.call('PUBLISH', p .. 'ch:u:' .. ARGV[i], payload)
  end
end
return count`,

  /** (p, group, payload, ...excluded) — publishes to a group's channel; returns its size minus the excluded. */
  pushSendGroup: `
local p, g = ARGV[1], ARGV[2]
local k = p .. 'g:' .. g
local count = redis.call('SCARD', k)
if count == 0 then return 0 end
for i = 4, #ARGV do count = count - redis.call('SISMEMBER', k, ARGV[i]) end
redis.call('PUBLISH', p .. 'ch:g:' .. g, ARGV[3])
return count`,

  /**
   * (p, origin, payload, ngroups, ...groups, ...excluded) — several groups at once: members are de-duplicated
   * here, and only the nodes that hold one get the payload (on their node channel).
   */
  pushSendGroups: `${PUBLISH_TO_HOLDERS}
local p, origin, payload, n = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local keys = {}
for i = 1, n do keys[i] = p .. 'g:' .. ARGV[4 + i] end
local excluded = {}
for i = 5 + n, #ARGV do excluded[ARGV[i]] = true end
-- One group at a time rather than SUNION(unpack(keys)): unpack fails past ~8,000 groups.
local seen, targets = {}, {}
for i = 1, n do
  for _, cid in ipairs(redis.call('SMEMBERS', keys[i])) do
    if not seen[cid] and not excluded[cid] then
      seen[cid] = true
      targets[#targets + 1] = cid
    end
  end
end
return publish_to_holders(p, origin, payload, targets)`,

  /** (p, origin, payload, ...cids) — listed clients (already de-duplicated and filtered by the caller). */
  pushSendClients: `${PUBLISH_TO_HOLDERS}
local p, origin, payload = ARGV[1], ARGV[2], ARGV[3]
local targets = {}
for i = 4, #ARGV do
  if redis.call('EXISTS', p .. 'c:' .. ARGV[i]) == 1 then targets[#targets + 1] = ARGV[i] end
end
return publish_to_holders(p, origin, payload, targets)`,

  /** (p, payload, ...excluded) — everyone; returns how many connections there are, minus the excluded. */
  pushSendAll: `
local p = ARGV[1]
local count = redis.call('SCARD', p .. 'clients')
if count == 0 then return 0 end
for i = 3, #ARGV do count = count - redis.call('SISMEMBER', p .. 'clients', ARGV[i]) end
redis.call('PUBLISH', p .. 'ch:all', ARGV[2])
return count`,

  /**
   * (p, node, payload) — a call to one node, on its node channel. Returns how many listened; when none did, -1 if
   * the node is still alive (its subscriber is reconnecting: try again) and 0 if it is gone.
   */
  pushCallNode: `${DROP}
local p, node = ARGV[1], ARGV[2]
local n = redis.call('PUBLISH', p .. 'ch:node:' .. node, ARGV[3])
if n > 0 then return n end
local expiry = redis.call('ZSCORE', p .. 'nodes', node)
if expiry and tonumber(expiry) > now_ms() then return -1 end
return 0`,

  /** (p, uid, payload) — tells the nodes of a uid to close its connections; returns how many it has. */
  pushCloseUid: `
local p, uid = ARGV[1], ARGV[2]
local count = redis.call('SCARD', p .. 'u:' .. uid)
if count > 0 then redis.call('PUBLISH', p .. 'ch:u:' .. uid, ARGV[3]) end
return count`,
} as const;

/** Names of the scripts, as ioredis commands. */
export type RedisScriptName = keyof typeof REDIS_SCRIPTS;

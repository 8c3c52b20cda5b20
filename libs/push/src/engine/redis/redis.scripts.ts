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

/** A script: how many of its arguments are KEYS (null: the caller passes the count first), and its Lua. */
export interface RedisScript {
  keys: number | null;
  lua: string;
}

/*
 * A target's history (resume and recovery): a stream whose entry ids are the message's sequence number (n-0, so the
 * successor of n is n + 1 and a gap is visible), and a meta hash beside it: e (epoch: a random id, new each time the
 * history starts), n (the last sequence number), b (payload bytes held). Entry fields: d (the payload), f (b: binary,
 * j: JSON), a (when it was added, ms, Redis clock), x (excluded client_ids, comma-separated), t (for a send to several
 * groups: their history keys, as JSON). Both keys expire maxAge after the last message; the oldest entries go past
 * maxCount entries or maxBytes bytes (the newest one always stays).
 */
const HISTORY = `
local function history_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function record(stream, meta, body, flags, excluded, targets, maxCount, maxBytes, maxAge, epoch)
  local m = redis.call('HMGET', meta, 'e', 'n', 'b')
  local e, n, b = m[1], tonumber(m[2] or '0'), tonumber(m[3] or '0')
  if not e then
    e, n, b = epoch, 0, 0
    redis.call('DEL', stream)
  end
  n = n + 1
  local fields = {'d', body, 'f', flags, 'a', history_now()}
  if excluded ~= '' then fields[#fields + 1] = 'x'; fields[#fields + 1] = excluded end
  if targets ~= '' then fields[#fields + 1] = 't'; fields[#fields + 1] = targets end
  redis.call('XADD', stream, n .. '-0', unpack(fields))
  b = b + #body
  local len = redis.call('XLEN', stream)
  while len > 1 and (len > maxCount or b > maxBytes) do
    local oldest = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)[1]
    for i = 1, #oldest[2], 2 do
      if oldest[2][i] == 'd' then b = b - #oldest[2][i + 1] end
    end
    redis.call('XDEL', stream, oldest[1])
    len = len - 1
  end
  redis.call('HSET', meta, 'e', e, 'n', n, 'b', b)
  redis.call('PEXPIRE', meta, maxAge)
  redis.call('PEXPIRE', stream, maxAge)
  return e .. '.' .. n
end
`;

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
   * KEYS: node clients, connection hash, connection groups, node's resumable set, node's dropped set, node's
   * deadlines. ARGV: cid, session, uid|'', resumable fields (JSON: rs, s:<key>…, hl; '' for a plain connection),
   * until (ms, dropped; 0 attached), ...groups. Writes a connection whole, replacing what was there (the caller read
   * the previous bindings first, with \`pushForget\`).
   */
  pushRegister: {
    keys: 6,
    lua: `
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], 'session', ARGV[2])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[2], 'uid', ARGV[3]) end
if ARGV[4] ~= '' then
  redis.call('SADD', KEYS[4], ARGV[1])
  for field, value in pairs(cjson.decode(ARGV[4])) do redis.call('HSET', KEYS[2], field, value) end
else
  redis.call('SREM', KEYS[4], ARGV[1])
end
if ARGV[5] ~= '0' then
  redis.call('SADD', KEYS[5], ARGV[1])
  redis.call('ZADD', KEYS[6], ARGV[5], ARGV[1])
else
  redis.call('SREM', KEYS[5], ARGV[1])
  redis.call('ZREM', KEYS[6], ARGV[1])
end
for i = 6, #ARGV do redis.call('SADD', KEYS[3], ARGV[i]) end
return 1`,
  },

  /**
   * KEYS: node clients, connection hash, connection groups, node's resumable set, node's dropped set, node's
   * deadlines. ARGV: cid, 1 (delete) | 0 (only read). Returns its uid|'' followed by its groups (the bindings to undo
   * elsewhere), and with 1 deletes it.
   */
  pushForget: {
    keys: 6,
    lua: `
local out = redis.call('SMEMBERS', KEYS[3])
table.insert(out, 1, redis.call('HGET', KEYS[2], 'uid') or '')
if ARGV[2] == '1' then
  redis.call('DEL', KEYS[2], KEYS[3])
  redis.call('SREM', KEYS[1], ARGV[1])
  redis.call('SREM', KEYS[4], ARGV[1])
  redis.call('SREM', KEYS[5], ARGV[1])
  redis.call('ZREM', KEYS[6], ARGV[1])
end
return out`,
  },

  /**
   * KEYS: connection hash. ARGV: uid|'', then optionally the since field to drop ('' for none) and the one to set
   * with its value (a resumable connection's place in the uid's history). Returns false when the connection is
   * missing, else its previous uid|''.
   */
  pushSetUid: {
    keys: 1,
    lua: `
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local old = redis.call('HGET', KEYS[1], 'uid') or ''
if ARGV[1] == '' then redis.call('HDEL', KEYS[1], 'uid') else redis.call('HSET', KEYS[1], 'uid', ARGV[1]) end
if ARGV[2] and ARGV[2] ~= '' then redis.call('HDEL', KEYS[1], ARGV[2]) end
if ARGV[3] and ARGV[3] ~= '' then redis.call('HSET', KEYS[1], ARGV[3], ARGV[4]) end
return old`,
  },

  /**
   * KEYS: connection hash, connection groups. ARGV: group, 1 (join) | 0 (leave), then optionally the since field and,
   * for a join, its value (a resumable connection's place in the group's history; a leave drops the field). 0 when the
   * connection is missing.
   */
  pushSetGroup: {
    keys: 2,
    lua: `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[2] == '1' then redis.call('SADD', KEYS[2], ARGV[1]) else redis.call('SREM', KEYS[2], ARGV[1]) end
if ARGV[3] and ARGV[3] ~= '' then
  if ARGV[2] == '1' then redis.call('HSET', KEYS[1], ARGV[3], ARGV[4]) else redis.call('HDEL', KEYS[1], ARGV[3]) end
end
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

  /**
   * KEYS: a member set, its channel, its set of dropped resumable members, its history stream and meta, its set of
   * resumable members. ARGV: publish command, the message header without its closing brace, the payload, flags,
   * maxCount, maxBytes, maxAge, an epoch for a history that starts now, the JSON of the group keys of a send to
   * several ('' otherwise), ...excluded client_ids. When the set has members: publishes the message, and when one of
   * them is resumable, adds it to the history first and publishes it with its offset (header + ,"h":"<epoch>.<n>"} +
   * newline + payload). Returns {members, dropped members} minus the excluded ones.
   */
  pushPublishRecorded: {
    keys: 6,
    lua: `${HISTORY}
local count = redis.call('SCARD', KEYS[1])
if count == 0 then return {0, 0} end
local held = redis.call('SCARD', KEYS[3])
local excluded = {}
for i = 10, #ARGV do
  count = count - redis.call('SISMEMBER', KEYS[1], ARGV[i])
  if held > 0 then held = held - redis.call('SISMEMBER', KEYS[3], ARGV[i]) end
  excluded[#excluded + 1] = ARGV[i]
end
if redis.call('SCARD', KEYS[6]) == 0 then
  redis.call(ARGV[1], KEYS[2], ARGV[2] .. '}\\n' .. ARGV[3])
  return {count, held}
end
local offset = record(KEYS[4], KEYS[5], ARGV[3], ARGV[4], table.concat(excluded, ','), ARGV[9],
  tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8])
redis.call(ARGV[1], KEYS[2], ARGV[2] .. ',"h":"' .. offset .. '"}\\n' .. ARGV[3])
return {count, held}`,
  },

  /**
   * The number of KEYS first, then KEYS: a node's clients, its channel, its dropped ones, its resumable ones, then
   * (stream, meta) of each listed client_id's history. ARGV: publish command, header without its closing brace,
   * payload, flags, maxCount, maxBytes, maxAge, epoch, ...client_ids. Publishes once when the node holds one of them
   * (header + ,"h":{"<cid>":"<offset>",…}} + newline + payload), after adding the message to the history of each held
   * resumable one. Returns {held by the node, of which dropped}.
   */
  pushPublishToHeldRecorded: {
    keys: null,
    lua: `${HISTORY}
local count, held, offsets = 0, 0, {}
for i = 9, #ARGV do
  local id = ARGV[i]
  if redis.call('SISMEMBER', KEYS[1], id) == 1 then
    count = count + 1
    held = held + redis.call('SISMEMBER', KEYS[3], id)
    if redis.call('SISMEMBER', KEYS[4], id) == 1 then
      local k = 5 + 2 * (i - 9)
      local offset = record(KEYS[k], KEYS[k + 1], ARGV[3], ARGV[4], '', '', tonumber(ARGV[5]), tonumber(ARGV[6]),
        tonumber(ARGV[7]), ARGV[8])
      offsets[#offsets + 1] = '"' .. id .. '":"' .. offset .. '"'
    end
  end
end
if count > 0 then
  redis.call(ARGV[1], KEYS[2], ARGV[2] .. ',"h":{' .. table.concat(offsets, ',') .. '}}\\n' .. ARGV[3])
end
return {count, held}`,
  },

  /**
   * KEYS: a history stream and meta. ARGV: maxCount, then cursor pairs (epoch, n; '' for none). Returns {epoch, n,
   * after, entries…} where `after` is the highest cursor of the history's epoch (0 when none is) and the entries
   * follow it (at most maxCount); {} when the target has no history.
   */
  pushReadHistory: {
    keys: 2,
    lua: `
local m = redis.call('HMGET', KEYS[2], 'e', 'n')
if not m[1] then return {} end
local after = 0
for i = 2, #ARGV, 2 do
  if ARGV[i] == m[1] then
    local n = tonumber(ARGV[i + 1])
    if n and n > after then after = n end
  end
end
if after > tonumber(m[2]) then after = tonumber(m[2]) end
return {m[1], m[2], after, redis.call('XRANGE', KEYS[1], (after + 1) .. '-0', '+', 'COUNT', tonumber(ARGV[1]))}`,
  },

  /**
   * KEYS: connection hash, node's dropped set, node's deadlines, node's clients. ARGV: cid, until (ms; 0: attached;
   * -1: left as it is),
   * generation, the new secret hash ('' to keep it), the node it is offered to ('' if none), until when (ms). Marks a
   * resumable connection dropped until `until` (or attached again), records a new secret, or marks it offered to a
   * resume on another node (no other resume takes it until then). 0 when the connection is missing.
   */
  pushSetDetached: {
    keys: 4,
    lua: `
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('SISMEMBER', KEYS[4], ARGV[1]) == 0 then return 0 end
if ARGV[2] == '0' then
  redis.call('SREM', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
elseif ARGV[2] ~= '-1' then
  redis.call('SADD', KEYS[2], ARGV[1])
  redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
  redis.call('HSET', KEYS[1], 'gen', ARGV[3])
end
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'rs', ARGV[4]) end
if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], 'mv', ARGV[5], 'mu', ARGV[6]) end
return 1`,
  },

  /**
   * KEYS: connection hash, connection groups, node's clients, node's resumable set, node's dropped set, node's
   * deadlines. ARGV: cid, until (ms) for one not dropped yet, generation. The reaper's first pass over a gone node: a
   * resumable connection is kept, dropped until its window ends ({'keep', uid, groups…}), even one offered to a resume
   * on another node (which removes it once its own copy is registered); anything else is to be removed ({'forget',
   * uid, groups…}).
   */
  pushKeepResumable: {
    keys: 6,
    lua: `
local out = redis.call('SMEMBERS', KEYS[2])
table.insert(out, 1, redis.call('HGET', KEYS[1], 'uid') or '')
local c = redis.call('HMGET', KEYS[1], 'rs')
if redis.call('SISMEMBER', KEYS[4], ARGV[1]) == 0 or not c[1] then
  table.insert(out, 1, 'forget')
  return out
end
if not redis.call('ZSCORE', KEYS[6], ARGV[1]) then
  redis.call('ZADD', KEYS[6], ARGV[2], ARGV[1])
  redis.call('HSET', KEYS[1], 'gen', ARGV[3])
end
redis.call('SADD', KEYS[5], ARGV[1])
table.insert(out, 1, 'keep')
return out`,
  },

  /**
   * KEYS: connection hash, connection groups, node's deadlines, node's resumable set. ARGV: cid, SHA-256 of the
   * presented secret (hex), the node that takes it, now (ms), until when it is offered (ms). Takes a resumable
   * connection left by a node that is gone: checks the secret and the window, offers it to the taker (another taker
   * meanwhile gets {'busy'}; the same one may take it again, its earlier try having failed) and returns {'ok', uid, session, history lost?, generation, groups (JSON), since fields…};
   * {'not_found'} or {'refused'} otherwise.
   */
  pushAdopt: {
    keys: 4,
    lua: `
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('SISMEMBER', KEYS[4], ARGV[1]) == 0 then return {'not_found'} end
local deadline = redis.call('ZSCORE', KEYS[3], ARGV[1])
if deadline and tonumber(deadline) < tonumber(ARGV[4]) then return {'not_found'} end
local c = redis.call('HMGET', KEYS[1], 'rs', 'mv', 'mu', 'uid', 'session', 'hl', 'gen')
if c[1] ~= ARGV[2] then return {'refused'} end
if c[2] and c[2] ~= ARGV[3] and tonumber(c[3] or '0') > tonumber(ARGV[4]) then return {'busy'} end
-- Offered to the taker, which removes it once its own connection is registered; if it never does, the offer lapses.
redis.call('HSET', KEYS[1], 'mv', ARGV[3], 'mu', ARGV[5])
local out = {'ok', c[4] or '', c[5] or '{}', c[6] or '', c[7] or '', cjson.encode(redis.call('SMEMBERS', KEYS[2]))}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if string.sub(all[i], 1, 2) == 's:' then
    out[#out + 1] = string.sub(all[i], 3)
    out[#out + 1] = all[i + 1]
  end
end
return out`,
  },

  /**
   * KEYS: a member set, its set of dropped members. ARGV: cid. Marks the connection dropped there only while it is
   * still a member: a removal that ran first (a resume elsewhere took it over) is never undone by a late mark.
   */
  pushMarkDropped: {
    keys: 2,
    lua: `
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then return 0 end
return redis.call('SADD', KEYS[2], ARGV[1])`,
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

// The Redis function library behind redis_store's writes (Redis 7 functions, loaded by
// name with FUNCTION LOAD REPLACE on every new connection, so no script hash is needed
// and a restarted server gets it back before the first FCALL).
//
// Every function takes the namespace's bookkeeping keys, all under the hash tag {ns}:
//   KEYS[1] index  a sorted set of every key, all scores 0, so ZRANGEBYLEX finds a byte
//                  prefix in O(log N + M)
//   KEYS[2] ttl    a sorted set of keys with a time to live, scored by their deadline (ms)
//   KEYS[3] sizes  a hash key -> accounted bytes, for entries with a time to live, so that
//                  an entry Redis expired on its own can still be subtracted
//   KEYS[4] bytes  the byte gauge: sum of key and stored value sizes
// and the data key (`<ns data prefix><key>`) as KEYS[5] where it is a single one.
// ARGV[1] is always the data key prefix. Writes publish their invalidation message
// (when a channel is given) in the same atomic step as the change, and return how many
// subscribers received it (the acknowledgements a confirming writer waits for) last.
// Puts are refused at maxmemory under noeviction (errc::no_space); removals are not.
#pragma once

namespace larder::redis {

inline constexpr const char* library_name = "larder_v1";

inline constexpr const char* library_source = R"lua(#!lua name=larder_v1
local function forget(k, P, keys, unlink)
  local n = redis.call('STRLEN', P .. k)
  local live = 0
  if n > 0 then
    live = 1
    redis.call('DECRBY', keys[4], n + #k)
    if redis.call('ZREM', keys[2], k) == 1 then redis.call('HDEL', keys[3], k) end
    if unlink then redis.call('UNLINK', P .. k) end
  elseif redis.call('ZREM', keys[2], k) == 1 then
    -- Expired in Redis, not yet trimmed: its size is only in the sizes hash now.
    local s = redis.call('HGET', keys[3], k)
    if s then redis.call('DECRBY', keys[4], tonumber(s)) end
    redis.call('HDEL', keys[3], k)
  end
  if unlink then redis.call('ZREM', keys[1], k) end
  return live
end

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function trim(P, keys, now)
  local dead = redis.call('ZRANGEBYSCORE', keys[2], '-inf', now, 'LIMIT', 0, 16)
  for _, k in ipairs(dead) do forget(k, P, keys, true) end
end

local function gauges(keys)
  return {redis.call('ZCARD', keys[1]), tonumber(redis.call('GET', keys[4]) or '0')}
end

-- ARGV: prefix, key, value, ttl ms (0: none), channel ('' : none), message
-- The hot path: a put without a TTL makes 7 calls (each costs about as much as a
-- command); stores with a TTL also trim expired entries.
redis.register_function('larder_put_v1', function(keys, args)
  local k, v, ttl = args[2], args[3], tonumber(args[4])
  local now = 0
  -- Trim first: if this key is among the expired, it is forgotten whole here, so that
  -- the size below is never subtracted twice.
  if ttl > 0 then
    now = now_ms()
    trim(args[1], keys, now)
  end
  local n = redis.call('STRLEN', keys[5])
  local delta = #v + #k
  if n > 0 then delta = delta - n - #k end
  if ttl > 0 then
    -- ZADD and HSET below overwrite this key's deadline and size, so only a value that
    -- Redis expired on its own (gone, its size still in the hash) needs a look.
    if n == 0 then
      local s = redis.call('HGET', keys[3], k)
      if s then delta = delta - tonumber(s) end
    end
    redis.call('SET', keys[5], v, 'PX', ttl)
    redis.call('ZADD', keys[2], now + ttl, k)
    redis.call('HSET', keys[3], k, #v + #k)
  else
    if redis.call('ZREM', keys[2], k) == 1 then
      if n == 0 then
        local s = redis.call('HGET', keys[3], k)
        if s then delta = delta - tonumber(s) end
      end
      redis.call('HDEL', keys[3], k)
    end
    redis.call('SET', keys[5], v)
  end
  local bytes = redis.call('INCRBY', keys[4], delta)
  redis.call('ZADD', keys[1], 0, k)
  local g = {redis.call('ZCARD', keys[1]), bytes, 0}
  if args[5] ~= '' then g[3] = redis.call('PUBLISH', args[5], args[6]) end
  return g
end)

-- Removals are flagged allow-oom: they only free memory, so they must run when the
-- server is at maxmemory under noeviction, where unflagged functions are refused (a
-- full cache could otherwise never be invalidated).

-- ARGV: prefix, key, channel, message
redis.register_function{function_name = 'larder_erase_v1', flags = {'allow-oom'},
callback = function(keys, args)
  local live = forget(args[2], args[1], keys, true)
  local receivers = 0
  if args[3] ~= '' then receivers = redis.call('PUBLISH', args[3], args[4]) end
  local g = gauges(keys)
  return {live, g[1], g[2], receivers}
end}

-- ARGV: prefix, lex min, lex max, batch, channel, message. Removes up to one batch; the
-- caller repeats while `more` is 1, and the last batch publishes.
redis.register_function{function_name = 'larder_invalidate_v1', flags = {'allow-oom'},
callback = function(keys, args)
  local batch = tonumber(args[4])
  local found = redis.call('ZRANGEBYLEX', keys[1], args[2], args[3], 'LIMIT', 0, batch)
  local removed = 0
  for _, k in ipairs(found) do removed = removed + forget(k, args[1], keys, true) end
  local more, receivers = 0, 0
  if #found == batch then
    more = 1
  elseif args[5] ~= '' then
    receivers = redis.call('PUBLISH', args[5], args[6])
  end
  local g = gauges(keys)
  return {removed, more, g[1], g[2], receivers}
end}
)lua";

}  // namespace larder::redis

-- The prelude of every kimi-pool Redis script: the loader (src/redis/scripts.ts)
-- runs this file first, then the script's own file, as one script. To run a
-- script with redis-cli, write the combined files with `npm run lua` (see
-- docs/distributed.md). Every script is one atomic round trip that reads the
-- time from the Redis server (TIME), never from a worker.
--
-- KEYS: the six keys of one account, sharing one hash tag so that a cluster
-- keeps an account on one slot (accountKeys in scripts.ts):
--   [1] m   hash  epoch, born, cfg (configured limits), lim (limits in force),
--                 pause (server ms), dv (disabled version), tt (tokens in the TPM
--                 window), dtot (tokens in the TPD window), tpdat (server ms at which
--                 the TPD limit in force last became finite), off (account disabled),
--                 k:<key id> (key disabled)
--   [2] s   zset  request starts: member = lease member, score = server ms
--   [3] t   zset  TPM reservations: member = "<lease member>|<tokens>" (or "lost:<time>|<tokens>",
--                 tokens of the total whose entries were lost, or "obs:<time>|<tokens>", usage
--                 the API reported, see observe.lua), score = server ms
--   [4] d   zset  TPD buckets: member = bucket index, score = last reservation in it
--   [5] dt  hash  TPD bucket index -> tokens
--   [6] l   zset  in-flight leases: member = "<worker>:<lease>:<n>", score = expiry server ms
--
-- ARGV[1..6] are common to every script (below); a script's own start at ARGV[7].
-- Limits travel as "concurrency,rpm,tpm,tpd" with -1 for unlimited.
-- Each script but release and restamp answers the account's state in one layout
-- (reply below, parseReply in scripts.ts):
--   { status, wait, inFlight, starts, tokens, pauseLeft, epoch, dv, lim, concurrencyFull, lost, ...disabled field/value pairs }
-- with the disabled pairs only when the caller's dv is out of date. A script
-- that only writes calls ensure() first (creating the state, reporting its
-- loss), then touch() and reply(0, 0, 0, epoch, lost) last.

-- Redis < 5 replicates scripts verbatim unless told to replicate effects (TIME is not deterministic).
if redis.replicate_commands then pcall(redis.replicate_commands) end
local m, ks, kt, kd, kdt, kl = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
-- ARGV[1] known epoch, [2] configured limits, [3] span, [4] day span, [5] ttl, [6] known dv
local known, cfg = ARGV[1], ARGV[2]
local span, dayspan, ttl = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local knowndv = ARGV[6]
local tm = redis.call('TIME')
local now = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)

local function limits(s)
  local out = {}
  for v in string.gmatch(s, '[^,]+') do
    local n = tonumber(v)
    if n < 0 then n = math.huge end
    out[#out + 1] = n
  end
  return out[1], out[2], out[3], out[4]
end

-- Sets the limits in force. 'tpdat' is when the TPD limit last became finite:
-- grants from then on recorded their TPD tokens, earlier ones may not have
-- (see give_back). Set on a new state, it holds from its creation; on a change
-- (or a state written before 'tpdat' existed), from the next millisecond, so
-- that a grant in the same millisecond as the change counts as not recorded.
local function set_lim(s)
  local old = redis.call('HGET', m, 'lim')
  local _, _, _, was = limits(old or '-1,-1,-1,-1')
  local _, _, _, tpd = limits(s)
  if tpd ~= math.huge and (was == math.huge or redis.call('HEXISTS', m, 'tpdat') == 0) then
    redis.call('HSET', m, 'tpdat', old and now + 1 or now)
  end
  redis.call('HSET', m, 'lim', s)
end

local function tokens_of(member)
  return tonumber(string.match(member, '|(%d+)$')) or 0
end

-- Creates the account's state when missing. A caller that knew an older state
-- (its epoch) proves the state was lost (restart without persistence,
-- eviction): starts recorded before are gone, so none may start for one span
-- after the loss, which no lost start can then be closer than a window to.
local function ensure()
  local epoch = redis.call('HGET', m, 'epoch')
  local lost, base = 0, nil
  if not epoch then
    epoch = tm[1] .. '.' .. tm[2]
    local tt, dtot = 0, 0
    for _, e in ipairs(redis.call('ZRANGE', kt, 0, -1)) do tt = tt + tokens_of(e) end
    for _, v in ipairs(redis.call('HVALS', kdt)) do dtot = dtot + tonumber(v) end
    redis.call('HSET', m, 'epoch', epoch, 'born', now, 'cfg', cfg, 'tt', tt, 'dtot', dtot)
    if redis.call('HEXISTS', m, 'lim') == 0 then set_lim(cfg) end
    redis.call('HSETNX', m, 'dv', 0)
    if known ~= '' then lost, base = 1, now end
  elseif known ~= '' and known ~= epoch then
    -- Recreated after a loss by a pool that had not seen the old state.
    lost = 1
    base = tonumber(redis.call('HGET', m, 'born') or '0')
  end
  if base ~= nil then
    local p = tonumber(redis.call('HGET', m, 'pause') or '0')
    if base + span > p then redis.call('HSET', m, 'pause', base + span) end
  end
  return epoch, lost
end

-- Drops what left the windows: expired leases, old starts, old reservations.
local function prune()
  redis.call('ZREMRANGEBYSCORE', kl, '-inf', now)
  local cut = now - span
  redis.call('ZREMRANGEBYSCORE', ks, '-inf', cut)
  local old = redis.call('ZRANGEBYSCORE', kt, '-inf', cut)
  if #old > 0 then
    local sub = 0
    for i = 1, #old do sub = sub + tokens_of(old[i]) end
    redis.call('ZREMRANGEBYSCORE', kt, '-inf', cut)
    redis.call('HINCRBY', m, 'tt', -sub)
  end
  old = redis.call('ZRANGEBYSCORE', kd, '-inf', now - dayspan)
  if #old > 0 then
    local sub = 0
    for i = 1, #old do
      sub = sub + tonumber(redis.call('HGET', kdt, old[i]) or '0')
      redis.call('HDEL', kdt, old[i])
    end
    redis.call('ZREMRANGEBYSCORE', kd, '-inf', now - dayspan)
    redis.call('HINCRBY', m, 'dtot', -sub)
  end
end

local function touch()
  for i = 1, 6 do redis.call('PEXPIRE', KEYS[i], ttl) end
end

-- Adds tokens to the day's current granule: reservations within one granule
-- share an entry stamped with the latest of them. The caller keeps dtot.
local function add_to_day(gran, tokens)
  local b = tostring(math.floor(now / gran))
  redis.call('HINCRBY', kdt, b, tokens)
  redis.call('ZADD', kd, now, b)
end

local function reply(status, wait, cfull, epoch, lost)
  local dv = redis.call('HGET', m, 'dv') or '0'
  local pause = tonumber(redis.call('HGET', m, 'pause') or '0')
  local left = pause - now
  if left < 0 then left = 0 end
  local out = { status, wait, redis.call('ZCARD', kl), redis.call('ZCARD', ks),
    tonumber(redis.call('HGET', m, 'tt') or '0'), left, epoch, dv, redis.call('HGET', m, 'lim') or cfg, cfull, lost }
  if dv ~= knowndv then
    local all = redis.call('HGETALL', m)
    for i = 1, #all, 2 do
      local f = all[i]
      if f == 'off' or string.sub(f, 1, 2) == 'k:' then
        out[#out + 1] = f
        out[#out + 1] = all[i + 1]
      end
    end
  end
  return out
end

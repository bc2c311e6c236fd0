-- May this account start a request of this cost now? Records the start, the
-- tokens and the lease when it may (status 0); else answers a wait in ms
-- (status 1), never (2: more tokens than TPM or TPD) or disabled (3).
-- ARGV[7] tokens, [8] member, [9] leaseMs, [10] granularity, [11] pauseMs (a
-- pause this worker knows of, carried along in case its own pause write
-- failed), [12] pollMs. Runs after prelude.lua.
--
-- A member already recorded is a grant whose answer was lost (timeout,
-- dropped connection): the worker asks again with the same member only to
-- retry that call, so the request never left. The grant is given back and the
-- decision made again: started, it counts from now (a start kept at the lost
-- grant's time would leave the windows early); paused, disabled or full
-- meanwhile, it waits, and nothing of it stays recorded.

local tokens, member = tonumber(ARGV[7]), ARGV[8]
local leasems, gran = tonumber(ARGV[9]), tonumber(ARGV[10])
local pausems, poll = tonumber(ARGV[11]), tonumber(ARGV[12])
local tmember = member .. '|' .. tokens
local epoch, lost = ensure()
prune()
local pause = tonumber(redis.call('HGET', m, 'pause') or '0')
if pausems > 0 and now + pausems > pause then
  pause = now + pausems
  redis.call('HSET', m, 'pause', pause)
end
local conc, rpm, tpm, tpd = limits(redis.call('HGET', m, 'lim') or cfg)

-- Undoes a grant of this member whose answer was lost (see above).
local function give_back()
  local lease = redis.call('ZSCORE', kl, member)
  local s = redis.call('ZSCORE', ks, member)
  local t = redis.call('ZSCORE', kt, tmember)
  if not (lease or s or t) then return end
  -- When it was granted: its start or reservation, else its lease (never renewed: never answered).
  local at = tonumber(s or t or (tonumber(lease) - leasems))
  redis.call('ZREM', kl, member)
  redis.call('ZREM', ks, member)
  if redis.call('ZREM', kt, tmember) == 1 then redis.call('HINCRBY', m, 'tt', -tokens) end
  -- TPD tokens are recorded only while the TPD limit is finite, in buckets shared with other
  -- grants: give back only what a grant made after the limit last became finite recorded.
  local since = tonumber(redis.call('HGET', m, 'tpdat') or '')
  if tpd ~= math.huge and since ~= nil and at >= since then
    local b = tostring(math.floor(at / gran))
    local have = tonumber(redis.call('HGET', kdt, b) or '0')
    local back = math.min(have, tokens)
    if back > 0 then
      if back == have then
        redis.call('HDEL', kdt, b)
        redis.call('ZREM', kd, b)
      else
        redis.call('HINCRBY', kdt, b, -back)
      end
      redis.call('HINCRBY', m, 'dtot', -back)
    end
  end
end

-- The running totals (tt, dtot) outgrew their sets: some entries are gone
-- (a key evicted or deleted while the hash survived). Their tokens were
-- reserved at some time up to now, so they are recorded again as reserved now
-- (as after a state loss: they count one more window, never less), which
-- brings the total and the set back in step.
local function heal_tpm()
  local held = 0
  for _, e in ipairs(redis.call('ZRANGE', kt, 0, -1)) do held = held + tokens_of(e) end
  local gone = tonumber(redis.call('HGET', m, 'tt') or '0') - held
  if gone > 0 and redis.call('ZADD', kt, now, 'lost:' .. tm[1] .. '.' .. tm[2] .. '|' .. string.format('%d', gone)) == 1 then
    held = held + gone
  end
  redis.call('HSET', m, 'tt', held)
end

local function heal_tpd()
  for _, b in ipairs(redis.call('ZRANGE', kd, 0, -1)) do
    if redis.call('HEXISTS', kdt, b) == 0 then redis.call('ZREM', kd, b) end
  end
  local held, expired = 0, 0
  local all = redis.call('HGETALL', kdt)
  for i = 1, #all, 2 do
    local b, v = all[i], tonumber(all[i + 1]) or 0
    if redis.call('ZSCORE', kd, b) then
      held = held + v
    else
      -- Its index entry is gone: the bucket's index tells when its last reservation was, at the latest.
      local bi = tonumber(b)
      local last = now
      if bi then last = math.min(now, math.ceil((bi + 1) * gran)) end
      if last > now - dayspan then
        redis.call('ZADD', kd, last, b)
        held = held + v
      else
        redis.call('HDEL', kdt, b)
        expired = expired + v
      end
    end
  end
  local gone = tonumber(redis.call('HGET', m, 'dtot') or '0') - expired - held
  if gone > 0 then
    add_to_day(gran, gone)
    held = held + gone
  end
  redis.call('HSET', m, 'dtot', held)
end

-- Earliest time at which the reserved tokens leave room for this request
-- (0 = now): walks the reservations from the oldest until enough will have
-- expired. A walk that runs out means the total outgrew the set: heal it and
-- walk again, never grant on it.
local function free_at(limit, total, key, span_, heal, weight)
  for pass = 1, 2 do
    local excess = tonumber(redis.call('HGET', m, total) or '0') + tokens - limit
    if excess <= 0 then return 0 end
    local i = 0
    while true do
      local page = redis.call('ZRANGE', key, i, i + 99, 'WITHSCORES')
      if #page == 0 then break end
      for j = 1, #page, 2 do
        excess = excess - weight(page[j])
        if excess <= 0 then return tonumber(page[j + 1]) + span_ end
      end
      i = i + 100
    end
    if pass == 1 then heal() end
  end
  return now + span_
end

local function bucket_tokens(b)
  return tonumber(redis.call('HGET', kdt, b) or '0')
end

give_back()
local status, wait, cfull = 0, 0, 0
if redis.call('HEXISTS', m, 'off') == 1 then
  status = 3
elseif tokens > tpm or tokens > tpd then
  status = 2
else
  local n = redis.call('ZCARD', kl)
  if n >= conc then
    -- Full: ask again when the earliest lease expires, or sooner (a release wakes pools by pub/sub).
    local first = redis.call('ZRANGE', kl, 0, 0, 'WITHSCORES')
    wait = poll
    if first[2] ~= nil and tonumber(first[2]) - now < wait then wait = tonumber(first[2]) - now end
    if wait < 1 then wait = 1 end
    status, cfull = 1, 1
  else
    local at = pause
    if rpm ~= math.huge then
      local c = redis.call('ZCARD', ks)
      if c >= rpm then
        local e = redis.call('ZRANGE', ks, c - rpm, c - rpm, 'WITHSCORES')
        local t = tonumber(e[2]) + span
        if t > at then at = t end
      end
    end
    if tpm ~= math.huge then
      local t = free_at(tpm, 'tt', kt, span, heal_tpm, tokens_of)
      if t > at then at = t end
    end
    if tpd ~= math.huge then
      local t = free_at(tpd, 'dtot', kd, dayspan, heal_tpd, bucket_tokens)
      if t > at then at = t end
    end
    if at > now then
      status, wait = 1, math.ceil(at - now)
    else
      redis.call('ZADD', kl, now + leasems, member)
      if rpm ~= math.huge then redis.call('ZADD', ks, now, member) end
      if tpm ~= math.huge and redis.call('ZADD', kt, now, tmember) == 1 then
        redis.call('HINCRBY', m, 'tt', tokens)
      end
      if tpd ~= math.huge then
        add_to_day(gran, tokens)
        redis.call('HINCRBY', m, 'dtot', tokens)
      end
    end
  end
end
touch()
return reply(status, wait, cfull, epoch, lost)

/**
 * The Lua scripts of the Redis store: one per decision, each one atomic round
 * trip that reads the time from the Redis server (`TIME`), never from a worker.
 *
 * Every per-account script takes the same six keys (see {@link accountKeys}),
 * which share one hash tag so that a cluster keeps an account on one slot:
 *
 *   m   hash  epoch, born, cfg (configured limits), lim (limits in force),
 *             pause (server ms), dv (disabled version), tt (tokens in the TPM
 *             window), dtot (tokens in the TPD window), tpdat (server ms at which
 *             the TPD limit in force last became finite), off (account disabled),
 *             k:<key id> (key disabled)
 *   s   zset  request starts: member = lease member, score = server ms
 *   t   zset  TPM reservations: member = "<lease member>|<tokens>" (or "lost:<time>|<tokens>",
 *             tokens of the total whose entries were lost, or "obs:<time>|<tokens>", usage
 *             the API reported, see OBSERVE), score = server ms
 *   d   zset  TPD buckets: member = bucket index, score = last reservation in it
 *   dt  hash  TPD bucket index -> tokens
 *   l   zset  in-flight leases: member = "<worker>:<lease>:<n>", score = expiry server ms
 *
 * Limits travel as "concurrency,rpm,tpm,tpd" with -1 for unlimited.
 * Each script answers the account's state in one layout (see {@link parseReply}):
 *   { status, wait, inFlight, starts, tokens, pauseLeft, epoch, dv, lim, concurrencyFull, lost, ...disabled field/value pairs }
 * with the disabled pairs only when the caller's `dv` is out of date.
 */
import { createHash } from 'node:crypto';
import type { Limits } from '../tiers.js';

/** A script and its SHA1, for EVALSHA. */
export interface Script {
  readonly name: string;
  readonly lua: string;
  readonly sha: string;
}

/**
 * A script that writes and answers nothing of its own: the state is ensured
 * (and state loss reported) first, the account's keys touched after.
 */
function writeScript(name: string, body: string): Script {
  return script(name, `local epoch, lost = ensure()\n${body}touch()\nreturn reply(0, 0, 0, epoch, lost)\n`);
}

function script(name: string, body: string): Script {
  const lua = `${PRELUDE}\n${body}`;
  return { name, lua, sha: createHash('sha1').update(lua).digest('hex') };
}

/** Shared by every script. KEYS and the first ARGV are common to all of them. */
const PRELUDE = String.raw`
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
`;

/** ARGV after the common six. */
const FIRST = 7;

/**
 * May this account start a request of this cost now? Records the start, the
 * tokens and the lease when it may (status 0); else answers a wait in ms
 * (status 1), never (2: more tokens than TPM or TPD) or disabled (3).
 * ARGV: tokens, member, leaseMs, granularity, pauseMs (a pause this worker
 * knows of, carried along in case its own pause write failed), pollMs.
 *
 * A member already recorded is a grant whose answer was lost (timeout,
 * dropped connection): the worker asks again with the same member only to
 * retry that call, so the request never left. The grant is given back and the
 * decision made again: started, it counts from now (a start kept at the lost
 * grant's time would leave the windows early); paused, disabled or full
 * meanwhile, it waits, and nothing of it stays recorded.
 */
export const ACQUIRE = script(
  'acquire',
  String.raw`
local tokens, member = tonumber(ARGV[${FIRST}]), ARGV[${FIRST + 1}]
local leasems, gran = tonumber(ARGV[${FIRST + 2}]), tonumber(ARGV[${FIRST + 3}])
local pausems, poll = tonumber(ARGV[${FIRST + 4}]), tonumber(ARGV[${FIRST + 5}])
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
`,
);

/** Gives a slot back and tells the other pools. ARGV: member, channel, message. */
export const RELEASE = script(
  'release',
  String.raw`
local n = redis.call('ZREM', kl, ARGV[${FIRST}])
if n == 1 and ARGV[${FIRST + 1}] ~= '' then redis.call('PUBLISH', ARGV[${FIRST + 1}], ARGV[${FIRST + 2}]) end
return n
`,
);

/**
 * Extends this worker's leases on the account; re-adds any that expired or
 * were lost with the state (the requests still run, so they still count).
 * ARGV: leaseMs, members...
 */
export const RENEW = writeScript(
  'renew',
  String.raw`
prune()
local leasems = tonumber(ARGV[${FIRST}])
for i = ${FIRST + 1}, #ARGV do redis.call('ZADD', kl, now + leasems, ARGV[i]) end
`,
);

/**
 * Moves a start (and its TPM reservation) to now when the worker learned of
 * its grant late (a busy event loop, a slow network): the request leaves
 * after the answer is read, so its start counts from then. Only ever later:
 * conservative. ARGV: member, tokens.
 */
export const RESTAMP = script(
  'restamp',
  String.raw`
local member = ARGV[${FIRST}]
local s = redis.call('ZSCORE', ks, member)
if s and tonumber(s) < now then redis.call('ZADD', ks, now, member) end
local tmember = member .. '|' .. ARGV[${FIRST + 1}]
s = redis.call('ZSCORE', kt, tmember)
if s and tonumber(s) < now then redis.call('ZADD', kt, now, tmember) end
return 1
`,
);

/** Pauses the account for everyone (a 429 said so). ARGV: ms. */
export const PAUSE = writeScript(
  'pause',
  String.raw`
local untilms = now + tonumber(ARGV[${FIRST}])
if untilms > tonumber(redis.call('HGET', m, 'pause') or '0') then redis.call('HSET', m, 'pause', untilms) end
`,
);

/** Replaces the limits in force (learned from a 429). ARGV: limits. */
export const SET_LIMITS = writeScript(
  'setLimits',
  String.raw`
set_lim(ARGV[${FIRST}])
`,
);

/**
 * Brings the usage recorded in the TPM or TPD window up to what the API said
 * it counted (a 429's "current"), recording the difference now. Records even
 * while that limit is unlimited here (it is being learned at the same time).
 * ARGV: 'tpm' or 'tpd', used, granularity.
 */
export const OBSERVE = writeScript(
  'observe',
  String.raw`
prune()
local dim, used, gran = ARGV[${FIRST}], tonumber(ARGV[${FIRST + 1}]), tonumber(ARGV[${FIRST + 2}])
if dim == 'tpd' then
  local gone = used - tonumber(redis.call('HGET', m, 'dtot') or '0')
  if gone > 0 then
    add_to_day(gran, gone)
    redis.call('HINCRBY', m, 'dtot', gone)
  end
else
  local gone = used - tonumber(redis.call('HGET', m, 'tt') or '0')
  if gone > 0 and redis.call('ZADD', kt, now, 'obs:' .. tm[1] .. '.' .. tm[2] .. '|' .. string.format('%d', gone)) == 1 then
    redis.call('HINCRBY', m, 'tt', gone)
  end
end
`,
);

/** Marks a key ("k:<id>") or the account ("off") disabled and tells the other pools. ARGV: field, reason, channel, message. */
export const DISABLE = writeScript(
  'disable',
  String.raw`
if redis.call('HSETNX', m, ARGV[${FIRST}], ARGV[${FIRST + 1}]) == 1 then
  redis.call('HINCRBY', m, 'dv', 1)
  if ARGV[${FIRST + 2}] ~= '' then redis.call('PUBLISH', ARGV[${FIRST + 2}], ARGV[${FIRST + 3}]) end
end
`,
);

/**
 * A pool joins: creates the state if missing and, when this pool was
 * configured with other limits than the ones recorded, installs its own
 * (a new deployment); otherwise keeps the limits in force (maybe learned).
 */
export const SYNC = writeScript(
  'sync',
  String.raw`
local lim = redis.call('HGET', m, 'lim') or cfg
if redis.call('HGET', m, 'cfg') ~= cfg then
  redis.call('HSET', m, 'cfg', cfg)
  lim = cfg
end
-- Also stamps 'tpdat' on a state written before it existed.
set_lim(lim)
prune()
`,
);

/** Limits as the scripts take them: "concurrency,rpm,tpm,tpd", -1 for unlimited. */
export function encodeLimits(l: Limits): string {
  const f = (n: number): number => (Number.isFinite(n) ? n : -1);
  return `${f(l.concurrency)},${f(l.rpm)},${f(l.tpm)},${f(l.tpd)}`;
}

export function decodeLimits(s: string): Limits {
  const [concurrency = -1, rpm = -1, tpm = -1, tpd = -1] = s.split(',').map((v) => (Number(v) < 0 ? Infinity : Number(v)));
  return { concurrency, rpm, tpm, tpd };
}

/** The Redis keys of one account, in the order the scripts take them. */
export function accountKeys(prefix: string, account: string): string[] {
  // The hash tag keeps an account's keys on one cluster slot; braces in ids would break it.
  const base = `${prefix}{${encodeURIComponent(account)}}:`;
  return [`${base}m`, `${base}s`, `${base}t`, `${base}d`, `${base}dt`, `${base}l`];
}

/** The account's state as every script answers it. */
export interface Reply {
  /** 0 = started (acquire), 1 = wait, 2 = never fits, 3 = account disabled. */
  readonly status: number;
  readonly wait: number;
  readonly inFlight: number;
  readonly starts: number;
  readonly tokens: number;
  readonly pauseLeft: number;
  readonly epoch: string;
  readonly dv: string;
  readonly limits: string;
  readonly concurrencyFull: boolean;
  readonly lost: boolean;
  /** Disabled fields ("off", "k:<key id>") and their reasons, when `dv` was out of date. */
  readonly disabled: readonly (readonly [string, string])[];
}

/** Reads a script's answer; throws when it is not one (a wrong server or script). */
export function parseReply(raw: unknown): Reply {
  if (!Array.isArray(raw) || raw.length < 11) throw new Error(`Unexpected answer from a kimi-pool Redis script: ${JSON.stringify(raw)}`);
  const n = (i: number): number => Number(raw[i]);
  const s = (i: number): string => String(raw[i]);
  const disabled: [string, string][] = [];
  for (let i = 11; i + 1 < raw.length; i += 2) disabled.push([s(i), s(i + 1)]);
  return {
    status: n(0),
    wait: n(1),
    inFlight: n(2),
    starts: n(3),
    tokens: n(4),
    pauseLeft: n(5),
    epoch: s(6),
    dv: s(7),
    limits: s(8),
    concurrencyFull: n(9) === 1,
    lost: n(10) === 1,
    disabled,
  };
}

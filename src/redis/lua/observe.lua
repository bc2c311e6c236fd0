-- Brings the usage recorded in the TPM or TPD window up to what the API said
-- it counted (a 429's "current"), recording the difference now. Records even
-- while that limit is unlimited here (it is being learned at the same time).
-- ARGV[7] 'tpm' or 'tpd', [8] used, [9] granularity. Runs after prelude.lua.

local epoch, lost = ensure()
prune()
local dim, used, gran = ARGV[7], tonumber(ARGV[8]), tonumber(ARGV[9])
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
touch()
return reply(0, 0, 0, epoch, lost)

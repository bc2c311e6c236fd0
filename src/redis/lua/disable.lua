-- Marks a key ("k:<id>") or the account ("off") disabled and tells the other pools.
-- ARGV[7] field, [8] reason, [9] channel ('' = none), [10] message. Runs after prelude.lua.

local epoch, lost = ensure()
if redis.call('HSETNX', m, ARGV[7], ARGV[8]) == 1 then
  redis.call('HINCRBY', m, 'dv', 1)
  if ARGV[9] ~= '' then redis.call('PUBLISH', ARGV[9], ARGV[10]) end
end
touch()
return reply(0, 0, 0, epoch, lost)

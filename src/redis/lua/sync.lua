-- A pool joins: creates the state if missing and, when this pool was
-- configured with other limits than the ones recorded, installs its own
-- (a new deployment); otherwise keeps the limits in force (maybe learned).
-- Runs after prelude.lua.

local epoch, lost = ensure()
local lim = redis.call('HGET', m, 'lim') or cfg
if redis.call('HGET', m, 'cfg') ~= cfg then
  redis.call('HSET', m, 'cfg', cfg)
  lim = cfg
end
-- Also stamps 'tpdat' on a state written before it existed.
set_lim(lim)
prune()
touch()
return reply(0, 0, 0, epoch, lost)

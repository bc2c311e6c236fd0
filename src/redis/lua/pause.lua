-- Pauses the account for everyone (a 429 said so).
-- ARGV[7] ms. Runs after prelude.lua.

local epoch, lost = ensure()
local untilms = now + tonumber(ARGV[7])
if untilms > tonumber(redis.call('HGET', m, 'pause') or '0') then redis.call('HSET', m, 'pause', untilms) end
touch()
return reply(0, 0, 0, epoch, lost)

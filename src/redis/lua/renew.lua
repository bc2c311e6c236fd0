-- Extends this worker's leases on the account; re-adds any that expired or
-- were lost with the state (the requests still run, so they still count).
-- ARGV[7] leaseMs, [8...] members. Runs after prelude.lua.

local epoch, lost = ensure()
prune()
local leasems = tonumber(ARGV[7])
for i = 8, #ARGV do redis.call('ZADD', kl, now + leasems, ARGV[i]) end
touch()
return reply(0, 0, 0, epoch, lost)

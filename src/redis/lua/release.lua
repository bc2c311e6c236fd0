-- Gives a slot back and tells the other pools. Answers 1 if the lease was held.
-- ARGV[7] member, [8] channel ('' = none), [9] message. Runs after prelude.lua.

local n = redis.call('ZREM', kl, ARGV[7])
if n == 1 and ARGV[8] ~= '' then redis.call('PUBLISH', ARGV[8], ARGV[9]) end
return n

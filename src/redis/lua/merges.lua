-- Every merge recorded in the merges hash KEYS[1] (<prefix>merges), read by a
-- pool at start: { from, into, from, into, ... }.
-- Stands alone: it takes no account's keys, so no prelude.lua.
return redis.call('HGETALL', KEYS[1])

-- Moves a start (and its TPM reservation) to now when the worker learned of
-- its grant late (a busy event loop, a slow network): the request leaves
-- after the answer is read, so its start counts from then. Only ever later:
-- conservative. Answers 1.
-- ARGV[7] member, [8] tokens. Runs after prelude.lua.

local member = ARGV[7]
local s = redis.call('ZSCORE', ks, member)
if s and tonumber(s) < now then redis.call('ZADD', ks, now, member) end
local tmember = member .. '|' .. ARGV[8]
s = redis.call('ZSCORE', kt, tmember)
if s and tonumber(s) < now then redis.call('ZADD', kt, now, tmember) end
return 1

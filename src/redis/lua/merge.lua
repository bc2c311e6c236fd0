-- Records that account ARGV[1] is account ARGV[2] (Msh-Org-Id, discovery) in
-- the merges hash KEYS[1] (<prefix>merges), and publishes ARGV[4] on channel
-- ARGV[3] ('' publishes nothing) so the other pools merge too.
-- Stands alone: it takes no account's keys, so no prelude.lua.
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  if ARGV[3] ~= '' then redis.call('PUBLISH', ARGV[3], ARGV[4]) end
end
return 0

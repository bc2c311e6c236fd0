-- Clears the disabled flag ARGV[1] ("off" for the account, "k:<key id>" for a
-- key) of the account whose state hash is KEYS[1] (its `m` key), bumps its
-- disabled version `dv` so every pool re-reads its flags, and publishes ARGV[3]
-- on channel ARGV[2] ('' publishes nothing).
-- Stands alone: it touches one hash of the account, so no prelude.lua.
if redis.call('HDEL', KEYS[1], ARGV[1]) == 1 then
  redis.call('HINCRBY', KEYS[1], 'dv', 1)
  if ARGV[2] ~= '' then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
end
return 0

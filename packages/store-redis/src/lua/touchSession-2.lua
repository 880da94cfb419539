--[[
  Move a live session's expiry. Does not bump the version or updatedAt.

  KEYS[1] session hash    <prefix>:s:{<prefix>:<bucket>}:<sid>
  KEYS[2] expiry bucket   <prefix>:exp:{<prefix>:<bucket>}   ZSET sid -> expiresAt

  ARGV[1] sid
  ARGV[2] now, ms (the store's clock)
  ARGV[3] new expiresAt, ms
  ARGV[4] physical expiry for PEXPIREAT, ms (expiresAt + grace)

  Returns 1 when moved, 0 when the session is missing or logically expired.
]]
local e = tonumber(redis.call('HGET', KEYS[1], 'e'))
if e == nil or e <= tonumber(ARGV[2]) then
  return 0
end
redis.call('HSET', KEYS[1], 'e', ARGV[3])
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1

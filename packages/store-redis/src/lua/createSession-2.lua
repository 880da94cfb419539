--[[
  Create a session at version 1, unless a live session holds the id.

  A session left behind by logical expiry (e <= now, not swept yet) is
  replaced: its id is free. Also removes up to 16 expiry-index members whose
  hash is long gone (score below the repair cutoff), so the bucket stays
  bounded even when no sweeper runs.

  KEYS[1] session hash    <prefix>:s:{<prefix>:<bucket>}:<sid>
  KEYS[2] expiry bucket   <prefix>:exp:{<prefix>:<bucket>}   ZSET sid -> expiresAt

  ARGV[1] sid
  ARGV[2] now, ms (the store's clock): becomes createdAt and updatedAt
  ARGV[3] expiresAt, ms
  ARGV[4] physical expiry for PEXPIREAT, ms (expiresAt + grace)
  ARGV[5] userId, '' for none
  ARGV[6] z: total encoded data bytes
  ARGV[7] repair cutoff, ms (now - grace)
  ARGV[8] session key prefix of this bucket (KEYS[1] without the sid)
  ARGV[9..] data fields: 'f:<key>', encoded value, 'f:<key>', encoded value, ...

  Returns
    {1, replacedUserId, replacedCreatedAt}  created; the replaced* values describe
                                            an expired session the id replaced ('' if none)
    {0}                                     a live session holds the id: nothing written
]]
local key = KEYS[1]
local now = tonumber(ARGV[2])

local replacedUser, replacedCreated = '', ''
if redis.call('EXISTS', key) == 1 then
  local e = tonumber(redis.call('HGET', key, 'e'))
  -- An unreadable expiry counts as live: never overwrite what may be a session.
  if e == nil or e > now then
    return {0}
  end
  replacedUser = redis.call('HGET', key, 'u') or ''
  replacedCreated = redis.call('HGET', key, 'c') or ''
  redis.call('DEL', key)
end

local meta = {'v', '1', 'e', ARGV[3], 'c', ARGV[2], 'm', ARGV[2], 'z', ARGV[6]}
if ARGV[5] ~= '' then
  meta[#meta + 1] = 'u'
  meta[#meta + 1] = ARGV[5]
end
redis.call('HSET', key, unpack(meta))
-- unpack() is bounded by Lua's C stack: write the fields in chunks of 256 pairs.
for i = 9, #ARGV, 512 do
  redis.call('HSET', key, unpack(ARGV, i, math.min(i + 511, #ARGV)))
end
redis.call('PEXPIREAT', key, ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])

local stale = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[7], 'LIMIT', 0, 16)
for _, sid in ipairs(stale) do
  if redis.call('EXISTS', ARGV[8] .. sid) == 0 then
    redis.call('ZREM', KEYS[2], sid)
  end
end

return {1, replacedUser, replacedCreated}

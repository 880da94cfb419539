--[[
  Compare-and-set save: replace every data field of a live session whose
  version equals the expected one, and bump the version.

  KEYS[1] session hash    <prefix>:s:{<prefix>:<bucket>}:<sid>
  KEYS[2] expiry bucket   <prefix>:exp:{<prefix>:<bucket>}   ZSET sid -> expiresAt

  ARGV[1] sid
  ARGV[2] now, ms (the store's clock): becomes updatedAt
  ARGV[3] expected version
  ARGV[4] new expiresAt, ms
  ARGV[5] physical expiry for PEXPIREAT, ms (expiresAt + grace)
  ARGV[6] new userId, '' to keep the current owner
  ARGV[7] z: total encoded data bytes
  ARGV[8..] data fields: 'f:<key>', encoded value, ...

  Returns
    {1, newVersion, previousUserId, createdAt}  saved ('' when there was no owner)
    {0}                                         missing or logically expired
    {-1, currentVersion}                        version conflict: nothing written
]]
local key = KEYS[1]
local now = tonumber(ARGV[2])

local current = redis.call('HMGET', key, 'e', 'v', 'c', 'u')
local e = tonumber(current[1])
if e == nil or e <= now then
  return {0}
end
local version = tonumber(current[2])
if version == nil or version ~= tonumber(ARGV[3]) then
  return {-1, current[2] or ''}
end

local created = current[3] or ARGV[2]
local previousUser = current[4] or ''
local user = ARGV[6]
if user == '' then
  user = previousUser
end

-- Replacing the whole hash drops every old f:* field in one step.
redis.call('DEL', key)
local newVersion = string.format('%d', version + 1)
local meta = {'v', newVersion, 'e', ARGV[4], 'c', created, 'm', ARGV[2], 'z', ARGV[7]}
if user ~= '' then
  meta[#meta + 1] = 'u'
  meta[#meta + 1] = user
end
redis.call('HSET', key, unpack(meta))
-- unpack() is bounded by Lua's C stack: write the fields in chunks of 256 pairs.
for i = 8, #ARGV, 512 do
  redis.call('HSET', key, unpack(ARGV, i, math.min(i + 511, #ARGV)))
end
redis.call('PEXPIREAT', key, ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])

return {1, newVersion, previousUser, created}

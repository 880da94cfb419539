--[[
  Compare-and-set save: replace the data of a live session whose version
  equals the expected one, and bump the version.

  KEYS[1] session         <prefix>:s:{<prefix>:<bucket>}:<sid>   framed string
  KEYS[2] expiry bucket   <prefix>:exp:{<prefix>:<bucket>}   ZSET sid -> expiresAt

  ARGV[1] sid
  ARGV[2] now, ms (the store's clock): becomes updatedAt
  ARGV[3] expected version
  ARGV[4] new expiresAt, ms
  ARGV[5] physical expiry for PXAT, ms (expiresAt + grace)
  ARGV[6] new userId, '' to keep the current owner
  ARGV[7] z: total encoded data bytes
  ARGV[8] entries: (RS jsonKey US value)*, '' for no data
  ARGV[9] frame format to write: '2', '1', or '3' with the keyed check's
          secrets (see frame_format in frame.lua)
  ARGV[10] expiry grace, ms, and ARGV[11] the tombstone's earliest end,
           epoch ms: a save whose new expiresAt (ARGV[4]) is not after now
           retires the session (regenerate's old id): the key becomes a
           tombstone (frame_retire) and leaves the expiry index

  Returns
    {1, newVersion, previousUserId, createdAt}  saved ('' when there was no owner)
    {0}                                         missing or logically expired
    {-1, currentVersion}                        version conflict: nothing written
]]
local FORMAT = frame_format(ARGV[9])
local now = tonumber(ARGV[2])

local current = frame_get_header(KEYS[1])
if not current then
  return {0}
end
local e = tonumber(current.e)
if e == nil or e <= now then
  return {0}
end
local version = tonumber(current.v)
if version == nil or version ~= tonumber(ARGV[3]) then
  return {-1, current.v or ''}
end

local previousUser = current.u
local user = ARGV[6]
if user == '' then
  user = previousUser
end

local newVersion = string.format('%d', version + 1)
if tonumber(ARGV[4]) <= now then
  frame_retire(KEYS[1], current.e, ARGV[10], ARGV[11])
  redis.call('ZREM', KEYS[2], ARGV[1])
  return {1, newVersion, previousUser, current.c}
end
local saved = {f = FORMAT, v = newVersion, e = ARGV[4], c = current.c, m = ARGV[2], z = ARGV[7], u = user}
saved.k = frame_check(ARGV[1], saved, ARGV[8])
redis.call('SET', KEYS[1], frame_value(saved, ARGV[8]), 'PXAT', ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])

return {1, newVersion, previousUser, current.c}

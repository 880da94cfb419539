--[[
  Field-level merge into a live session, without a lock: set and unset
  top-level data fields, keep the exact byte total `z`, bump the version.
  Parallel patches of different keys never lose each other.

  KEYS[1] session hash    <prefix>:s:{<prefix>:<bucket>}:<sid>
  KEYS[2] expiry bucket   <prefix>:exp:{<prefix>:<bucket>}   ZSET sid -> expiresAt

  ARGV[1] sid
  ARGV[2] now, ms (the store's clock): becomes updatedAt
  ARGV[3] new expiresAt, ms, or '' to keep it
  ARGV[4] physical expiry for PEXPIREAT, ms (expiresAt + grace), or ''
  ARGV[5] maxBytes: the merged total may not exceed it
  ARGV[6] n: number of fields to set
  ARGV[7 .. 6+2n] fields to set: 'f:<key>', encoded value, ...
  ARGV[7+2n ..] fields to remove: 'f:<key>', ...

  Byte accounting matches SessionCodec.fieldBytes: a field weighs
  #key + #value in bytes, where key is the field name without 'f:'.

  Returns
    {1, newVersion}   merged
    {0}               missing or logically expired
    {-2, mergedBytes} the merged total would exceed maxBytes: nothing written
]]
local key = KEYS[1]
local now = tonumber(ARGV[2])

local current = redis.call('HMGET', key, 'e', 'z')
local e = tonumber(current[1])
if e == nil or e <= now then
  return {0}
end

local z = tonumber(current[2])
if z == nil then
  -- Unreadable total: recount it rather than trust a guess.
  z = 0
  local all = redis.call('HGETALL', key)
  for i = 1, #all, 2 do
    if string.sub(all[i], 1, 2) == 'f:' then
      z = z + #all[i] - 2 + #all[i + 1]
    end
  end
end

local function storedBytes(field)
  if redis.call('HEXISTS', key, field) == 1 then
    return #field - 2 + redis.call('HSTRLEN', key, field)
  end
  return 0
end

local setEnd = 6 + 2 * tonumber(ARGV[6])
for i = 7, setEnd, 2 do
  z = z - storedBytes(ARGV[i]) + #ARGV[i] - 2 + #ARGV[i + 1]
end
for i = setEnd + 1, #ARGV do
  z = z - storedBytes(ARGV[i])
end
if z > tonumber(ARGV[5]) then
  return {-2, z}
end

-- unpack() is bounded by Lua's C stack: write in chunks.
for i = 7, setEnd, 512 do
  redis.call('HSET', key, unpack(ARGV, i, math.min(i + 511, setEnd)))
end
for i = setEnd + 1, #ARGV, 512 do
  redis.call('HDEL', key, unpack(ARGV, i, math.min(i + 511, #ARGV)))
end
local newVersion = redis.call('HINCRBY', key, 'v', 1)
redis.call('HSET', key, 'm', ARGV[2], 'z', string.format('%d', z))
if ARGV[3] ~= '' then
  redis.call('HSET', key, 'e', ARGV[3])
  redis.call('PEXPIREAT', key, ARGV[4])
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
end

return {1, newVersion}

--[[
  Create a session at version 1, unless a live session holds the id.

  A session left behind by logical expiry (e <= now, not swept yet) is
  replaced: its id is free. Also removes up to 16 expiry-index members whose
  session is long gone (score below the repair cutoff), so the bucket stays
  bounded even when no sweeper runs.

  KEYS[1] session         <prefix>:s:{<prefix>:<bucket>}:<sid>   framed string
  KEYS[2] expiry bucket   <prefix>:exp:{<prefix>:<bucket>}   ZSET sid -> expiresAt

  ARGV[1] sid
  ARGV[2] now, ms (the store's clock): becomes createdAt and updatedAt
  ARGV[3] expiresAt, ms
  ARGV[4] physical expiry for PXAT, ms (expiresAt + grace)
  ARGV[5] userId, '' for none
  ARGV[6] z: total encoded data bytes
  ARGV[7] repair cutoff, ms (now - grace)
  ARGV[8] session key prefix of this bucket (KEYS[1] without the sid)
  ARGV[9] entries: (RS jsonKey US value)*, '' for no data
  ARGV[10] frame format to write: '2', '1', or '3' with the keyed check's
          secrets (see frame_format in frame.lua)

  Returns
    {1, replacedUserId, replacedCreatedAt, createdAt}
                created; the replaced* values describe an expired session the
                id replaced ('' if none); createdAt is the stored one (an
                earlier run's when this create had already landed)
    {0}         a live session holds the id: nothing written
    {-4}        the id is retired (a tombstone, see frame.lua): nothing written
]]
local FORMAT = frame_format(ARGV[10])
local now = tonumber(ARGV[2])

if frame_retired(KEYS[1]) then
  return {-4}
end

local replacedUser, replacedCreated = '', ''
local current = frame_get_header(KEYS[1])
if current then
  local e = frame_number(current.e)
  -- An unreadable expiry counts as live: never overwrite what may be a session.
  if e == nil or e > now then
    -- This very create, run again (a client re-sent the command after it
    -- landed): the stored session is exactly what this call would write.
    -- Report it created, with the first run's createdAt, instead of telling
    -- the caller its own session is someone else's.
    -- The check covers v, z, u and the entries as this call gives them,
    -- and c and m as stored (a re-run may carry a later now).
    if e ~= nil and current.v == '1' and current.e == ARGV[3] and current.u == ARGV[5]
        and frame_verify(ARGV[1], {
          f = current.f, v = '1', c = current.c, m = current.m, z = ARGV[6], u = ARGV[5], k = current.k,
        }, ARGV[9]) then
      return {1, '', '', current.c}
    end
    return {0}
  end
  replacedUser = current.u
  replacedCreated = current.c
end

local fresh = {f = FORMAT, v = '1', e = ARGV[3], c = ARGV[2], m = ARGV[2], z = ARGV[6], u = ARGV[5]}
fresh.k = frame_check(ARGV[1], fresh, ARGV[9])
redis.call('SET', KEYS[1], frame_value(fresh, ARGV[9]), 'PXAT', ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])

local stale = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[7], 'LIMIT', 0, 16)
for _, sid in ipairs(stale) do
  if redis.call('EXISTS', ARGV[8] .. sid) == 0 then
    redis.call('ZREM', KEYS[2], sid)
  end
end

return {1, replacedUser, replacedCreated, ARGV[2]}

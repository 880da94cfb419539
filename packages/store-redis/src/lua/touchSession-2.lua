--[[
  Move a live session's expiry (rolling expiry); data and version unchanged.

  KEYS[1] session         <prefix>:s:{<prefix>:<bucket>}:<sid>   framed string
  KEYS[2] expiry bucket   <prefix>:exp:{<prefix>:<bucket>}   ZSET sid -> expiresAt

  ARGV[1] sid
  ARGV[2] now, ms (the store's clock)
  ARGV[3] new expiresAt, ms
  ARGV[4] physical expiry for PXAT, ms (expiresAt + grace)
  ARGV[5] the store's frame format argument (see frame_format in frame.lua):
          only its keys are used, to verify the frame's check

  Returns {1, owner} touched; owner '' for none (the caller extends the
          owner's index to the new expiry: indexUserSession-1.lua)
          {0} missing or logically expired
          {-3} the stored frame is unreadable or fails its check: nothing written
          {-5, keyId} the stored frame is checked with a key this store lacks: nothing written
]]
frame_format(ARGV[5])
-- The same checks as patch: a touch must not report damaged data as a live
-- session, nor rewrite a damaged header number into a readable one.
local state, current, body = frame_get_live(KEYS[1], ARGV[1], tonumber(ARGV[2]))
if state == 'missing' then
  return {0}
end
if state == 'damaged' then
  return {-3}
end
if state == 'unknown-key' then
  return {-5, current}
end
-- k does not cover e: the frame keeps its format and its check.
current.e = ARGV[3]
redis.call('SET', KEYS[1], frame_value(current, body), 'PXAT', ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return {1, current.u or ''}

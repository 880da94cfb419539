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

  Returns 1 touched, 0 missing or logically expired,
          -3 the stored frame is unreadable or fails its check: nothing written
]]
frame_format(ARGV[5])
local current, body = frame_get(KEYS[1])
if not current then
  return 0
end
local e = frame_number(current.e)
if e == nil then
  return -3
end
if e <= tonumber(ARGV[2]) then
  return 0
end
-- The same checks as patch: a touch must not report damaged data as a live
-- session, nor rewrite a damaged header number into a readable one.
if frame_version(current.v) == nil or frame_number(current.c) == nil
    or frame_number(current.m) == nil or not frame_verify(ARGV[1], current, body) then
  return -3
end
-- k does not cover e: the frame keeps its format and its check.
current.e = ARGV[3]
redis.call('SET', KEYS[1], frame_header(current) .. body, 'PXAT', ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1

--[[
  Remove up to `limit` due sessions of one expiry bucket, atomically.

  Each due member's hash is re-checked: a session touched meanwhile (e > now)
  gets its score fixed and survives; an expired one is deleted with its index
  entry and reported. Because the check and the delete happen in one script,
  each expiry is reported by exactly one call, ever. A member whose hash is
  already gone (physical TTL after the grace period, eviction) is removed and
  counted as an orphan, not reported: nothing is known about it any more.

  KEYS[1] expiry bucket   <prefix>:exp:{<prefix>:<bucket>}   ZSET sid -> expiresAt
  KEYS[2] session key prefix of this bucket <prefix>:s:{<prefix>:<bucket>}:
          (same slot as KEYS[1]; session keys are KEYS[2] .. sid)

  ARGV[1] now, ms: members scoring <= now are due
  ARGV[2] limit: most members to examine

  Returns {more, orphans, fixed, sid, userId, expiresAt, createdAt, sid, ...}
    more       1 when due members remain after this batch, else 0
    orphans    members removed because their hash was gone
    fixed      members kept because their session was touched meanwhile
    then one quadruple per reported session ('' for no owner / unknown createdAt)
  Members examined = orphans + fixed + reported sessions <= limit.
]]
local now = tonumber(ARGV[1])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[2]))
local result = {0, 0, 0}
local orphans, fixed = 0, 0
for i = 1, #due, 2 do
  local sid = due[i]
  local key = KEYS[2] .. sid
  local current = redis.call('HMGET', key, 'e', 'u', 'c')
  local e = tonumber(current[1])
  if redis.call('EXISTS', key) == 0 then
    redis.call('ZREM', KEYS[1], sid)
    orphans = orphans + 1
  elseif e ~= nil and e > now then
    redis.call('ZADD', KEYS[1], current[1], sid)
    fixed = fixed + 1
  else
    redis.call('DEL', key)
    redis.call('ZREM', KEYS[1], sid)
    result[#result + 1] = sid
    result[#result + 1] = current[2] or ''
    if e ~= nil then
      result[#result + 1] = current[1]
    else
      -- An unreadable expiry is reported with the index score.
      result[#result + 1] = due[i + 1]
    end
    result[#result + 1] = current[3] or ''
  end
end
result[2] = orphans
result[3] = fixed
if #redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 1) > 0 then
  result[1] = 1
end
return result

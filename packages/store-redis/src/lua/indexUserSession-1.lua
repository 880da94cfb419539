--[[
  Add a session to its owner's index and keep the index alive as long as
  the session: the index's TTL becomes at least the session's physical
  expiry (it never shortens). The sweep does not trim user indexes (see
  sweepBucket-4.lua): members of swept sessions are dropped by the index's
  readers, and an index whose sessions are all gone expires by itself.
  Every write that moves a session's expiry later (touch, patch, merge)
  extends the index the same way (PEXPIREAT ... GT, RedisStore).

  An index written by a release before indexes had a TTL has none; it keeps
  none here (giving it this session's expiry could end it before a longer-
  lived session indexed earlier). Its readers still drop stale members, and
  once it empties, the next index written for that user has a TTL.

  KEYS[1] user index      <prefix>:u:{<base64url(userId)>}   ZSET sid -> score

  ARGV[1] score (user-index-score.ts: createdAt + version fraction)
  ARGV[2] sid
  ARGV[3] the session's physical expiry, epoch ms (expiresAt + grace)

  Returns the number of members in the index (stale ones included): the
  caller holds the owner to maxSessionsPerUser.
]]
local fresh = redis.call('EXISTS', KEYS[1]) == 0
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
if fresh then
  redis.call('PEXPIREAT', KEYS[1], ARGV[3])
else
  -- GT leaves a key without a TTL alone (an index of an earlier release).
  redis.call('PEXPIREAT', KEYS[1], ARGV[3], 'GT')
end
return redis.call('ZCARD', KEYS[1])

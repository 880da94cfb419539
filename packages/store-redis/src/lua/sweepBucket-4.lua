--[[
  Remove up to `limit` due sessions of one expiry bucket, atomically.

  Each due member's session is re-checked: a session touched meanwhile
  (e > now) gets its score fixed and survives; an expired one is deleted with
  its index entry and reported. Because the check and the delete happen in
  one script, each expiry is reported by exactly one call, ever. A member
  whose session is already gone (physical TTL after the grace period,
  eviction) is removed and counted as an orphan, not reported: nothing is
  known about it any more.

  With mode 'pending', the reported sessions are also recorded, as ONE
  batch, in the bucket's outbox in the same step (field = the batch id,
  value = the batch), and the batch id is added to the bucket's set of
  batches not yet published. The caller publishes a reference to the batch
  (its id), then removes the id from that set; the batch itself stays in
  the outbox until whoever handles the events acknowledges it (removes the
  field). A caller that dies before removing the id leaves it there for
  the next sweep of the bucket to publish, under the same id. So an expiry
  is never lost between this script and its consumer, and a republished
  batch is the same batch (a publisher that keys its message on the batch
  id adds it once).

  The batch id is sha1(sid US expiresAt) of the batch's first expiry, 32 hex
  chars: an expiry is reported once, ever, so no two batches share it, and it
  needs no counter (a counter lost with a failover would hand out an id a
  published batch already has, and its batch would be dropped as a repeat).

  KEYS[1] expiry bucket   <prefix>:exp:{<prefix>:<bucket>}    ZSET sid -> expiresAt
  KEYS[2] session key prefix of this bucket <prefix>:s:{<prefix>:<bucket>}:
          (same slot as KEYS[1]; session keys are KEYS[2] .. sid)
  KEYS[3] outbox          <prefix>:outbox:{<prefix>:<bucket>}  HASH
          batch id -> sid US userId US expiresAt US createdAt (US sid US ...)*
          (same slot): the reply's quadruples joined by US, one
          table.concat of the reply itself, no string built per session
          (releases before wrote RS between quadruples; readers take both)
  KEYS[4] unpublished     <prefix>:unpub:{<prefix>:<bucket>}   SET of batch ids
          (same slot)

  ARGV[1] now, ms: members scoring <= now are due
  ARGV[2] limit: most members to examine
  ARGV[3] 'pending' to record the reported sessions in KEYS[3], '' not to

  The owners' user indexes are not touched: a swept session's member stays
  in its index until a reader of that index drops it (listByUser,
  deleteByUser, the maxSessionsPerUser check: each reads the member's
  session and finds it gone), and an index none of whose sessions lives any
  more expires by itself (its TTL is the latest physical expiry of the
  sessions indexed in it; see indexUserSession-1.lua). A trim here cost
  one ZREM per owned session (and, on Cluster, a second round of calls to
  other slots): ~0.3 of the sweep's cost per session.

  Returns {more, orphans, fixed, batchId, sid, userId, expiresAt, createdAt, sid, ...}
    more       1 when due members remain after this batch, else 0
    orphans    members removed because their session was gone
    fixed      members kept because their session was touched meanwhile
    batchId    the outbox field of this batch; '' when nothing was reported
               or without 'pending'
    then one quadruple per reported session ('' for no owner / unknown createdAt)
  Members examined = orphans + fixed + reported sessions <= limit.
]]
local now = tonumber(ARGV[1])
local pending = ARGV[3] == 'pending'

local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local result = {0, 0, 0, ''}
local orphans, fixed = 0, 0
local gone = {}
local deleted = {}
for i = 1, #due do
  local sid = due[i]
  local key = KEYS[2] .. sid
  local current = frame_get_header(key)
  local e = current and frame_number(current.e)
  if not current then
    gone[#gone + 1] = sid
    orphans = orphans + 1
  elseif e ~= nil and e > now then
    redis.call('ZADD', KEYS[1], current.e, sid)
    fixed = fixed + 1
  else
    deleted[#deleted + 1] = key
    gone[#gone + 1] = sid
    -- An unreadable expiry is reported with the index score.
    local expiresAt = current.e
    if e == nil then
      expiresAt = redis.call('ZSCORE', KEYS[1], sid)
    end
    local user, created = current.u or '', current.c or ''
    result[#result + 1] = sid
    result[#result + 1] = user
    result[#result + 1] = expiresAt
    result[#result + 1] = created
  end
end
-- unpack() is bounded by Lua's C stack: remove in chunks. One DEL for many
-- keys instead of one per session: a redis.call is a good part of the
-- per-session cost. Nothing reads a deleted key after its check above.
for i = 1, #deleted, 4096 do
  redis.call('DEL', unpack(deleted, i, math.min(i + 4095, #deleted)))
end
for i = 1, #gone, 4096 do
  redis.call('ZREM', KEYS[1], unpack(gone, i, math.min(i + 4095, #gone)))
end
-- One outbox write per batch, not one per session; its value is the
-- reply's quadruples as they stand (no field holds US: ids are base64url,
-- user ids have no control characters, the rest are numbers).
if pending and #result > 4 then
  local batchId = string.sub(redis.sha1hex(result[5] .. US .. result[7]), 1, 32)
  redis.call('HSET', KEYS[3], batchId, table.concat(result, US, 5))
  redis.call('SADD', KEYS[4], batchId)
  result[4] = batchId
end
result[2] = orphans
result[3] = fixed
if #redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 1) > 0 then
  result[1] = 1
end
return result

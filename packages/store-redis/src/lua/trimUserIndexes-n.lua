--[[
  Remove members from one or more user indexes, each only if its score is
  still the one the caller saw. A member re-added meanwhile (a create reusing
  the id, a save moving the session back) has a new score and is kept, so a
  lazy repair can never hide a live session.

  Takes any number of keys (numkeys is the caller's): one call trims every
  owner of a sweep batch. Standalone/Sentinel only: on Cluster the indexes
  live in different slots (and ioredis' auto-pipelining routes a script
  without a fixed key count by its first argument), so there the store calls
  removeUserIndexMembers-1 once per index.

  KEYS[k] user index      <prefix>:u:{<base64url(userId)>}   ZSET sid -> createdAt

  ARGV, per key in order: n, then n pairs sid, score
                          (score '' = unknown: remove unconditionally)

  Returns the number of members removed.
]]
local removed, pos = 0, 1
for k = 1, #KEYS do
  local n = tonumber(ARGV[pos])
  pos = pos + 1
  for i = pos, pos + 2 * n - 1, 2 do
    local score = redis.call('ZSCORE', KEYS[k], ARGV[i])
    if score and (ARGV[i + 1] == '' or tonumber(score) == tonumber(ARGV[i + 1])) then
      removed = removed + redis.call('ZREM', KEYS[k], ARGV[i])
    end
  end
  pos = pos + 2 * n
end
return removed

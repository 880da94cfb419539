--[[
  Remove members from a user index, each only if its score is still the one
  the caller saw. A member re-added meanwhile (a create reusing the id, a save
  moving the session back) has a new score and is kept, so a lazy repair can
  never hide a live session.

  KEYS[1] user index      <prefix>:u:{<base64url(userId)>}   ZSET sid -> createdAt

  ARGV[1..] sid, score, sid, score, ...   (score '' = unknown: remove unconditionally)

  Returns the number of members removed.
]]
local removed = 0
for i = 1, #ARGV, 2 do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if score and (ARGV[i + 1] == '' or tonumber(score) == tonumber(ARGV[i + 1])) then
    removed = removed + redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
return removed

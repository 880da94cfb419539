--[[
  Remove members from a user index, each only if it is still the member the
  caller means. A member re-added meanwhile (a save moving the session back,
  a create reusing the id) is kept, so a lazy repair can never hide a live
  session.

  Scores: createdAt + (version mod 1024) / 1024 of the write that indexed
  the member (user-index-score.ts), so every write that (re-)adds a member
  gives it a new score, and the integer part still orders by creation.

  KEYS[1] user index      <prefix>:u:{<base64url(userId)>}   ZSET sid -> score

  ARGV[1..] sid, spec, sid, spec, ...   spec is one of
    <score>        the exact score the caller read (ZRANGE WITHSCORES)
    <c>@           any member indexed for the session created at c (the id is
                   retired, or a new session replaced it: no later write can
                   re-add that creation)
    <c>@<v>        a member of that creation indexed by a write up to
                   version v (a save at v moved the session to another
                   owner; a later save moving it back has a newer version)
    ''             unknown: remove unconditionally

  Returns the number of members removed.
]]
local function meant(score, spec)
  if spec == '' then
    return true
  end
  local c, v = string.match(spec, '^(%d+)@(%d*)$')
  local s = tonumber(score)
  if not c then
    return s == tonumber(spec)
  end
  local created = math.floor(s)
  if created ~= tonumber(c) then
    return false
  end
  if v == '' then
    return true
  end
  -- Versions wrap at 1024: a member up to 511 writes ahead is newer.
  local written = math.floor((s - created) * 1024 + 0.5) % 1024
  local ahead = (written - tonumber(v) % 1024) % 1024
  return ahead == 0 or ahead >= 512
end

local removed = 0
for i = 1, #ARGV, 2 do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if score and meant(score, ARGV[i + 1]) then
    removed = removed + redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
return removed

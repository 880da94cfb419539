--[[
  Delete a session and its expiry-index entry together, and retire its id:
  the session key keeps a tombstone (frame.lua) so that createSession
  refuses the id until it expires.

  KEYS[1] session         <prefix>:s:{<prefix>:<bucket>}:<sid>   framed string
  KEYS[2] expiry bucket   <prefix>:exp:{<prefix>:<bucket>}   ZSET sid -> expiresAt

  ARGV[1] sid
  ARGV[2] now, ms (the store's clock)
  ARGV[3] 'live': delete only a live session (an expired one is left for the
          sweeper, which reports its expiry); 'any': delete whatever is there
          (used to discard a corrupted session)
  ARGV[4] expected owner, or '' for any: a session that moved to another
          user meanwhile is not deleted (deleteByUser)
  ARGV[5] expiry grace, ms, and ARGV[6] the tombstone's earliest end, epoch
          ms (see frame_retire)

  Returns
    {1, userId, createdAt}  deleted ('' when there was no owner or it is unreadable)
    {0}                     missing (retired all the same)
    {-1}                    owned by someone else: nothing deleted
    {-2}                    logically expired (mode 'live'): nothing deleted;
                            a session whose expiry is unreadable is deleted
]]
local current = frame_get_header(KEYS[1])
if not current then
  -- Retired all the same: a copy of this id may live elsewhere (an
  -- instance's memory during an outage) and be written back later.
  if not frame_retired(KEYS[1]) then
    frame_retire(KEYS[1], nil, ARGV[5], ARGV[6])
  end
  return {0}
end
local user = current.u or ''
if ARGV[4] ~= '' and user ~= ARGV[4] then
  return {-1}
end
if ARGV[3] == 'live' then
  -- An unreadable header has no expiry to leave for the sweeper to report:
  -- delete it (else nobody could log out of a damaged session).
  local e = tonumber(current.e)
  if e ~= nil and e <= tonumber(ARGV[2]) then
    return {-2}
  end
end
frame_retire(KEYS[1], current.e, ARGV[5], ARGV[6])
redis.call('ZREM', KEYS[2], ARGV[1])
return {1, user, current.c or ''}

--[[
  Merge per-key changes made while this instance could not reach Redis
  (journaled by the outage fallback) into the stored session, in one step.

  Each change names the value the key had at the base version the
  instance's copy derived from. A key Redis did not change since then (the
  stored version is still the base, or the stored value equals the base
  value) takes the change. A key changed on both sides is a conflict: the
  later write wins, the change's time against the stored session's
  updatedAt (m, when its last write happened); either way it is counted and
  its key returned. A key both sides set to the same value is a conflict
  too (nothing to write): a value does not say how it was reached. The
  expiry becomes the later of the two.

  KEYS[1] session         <prefix>:s:{<prefix>:<bucket>}:<sid>   framed string
  KEYS[2] expiry bucket   <prefix>:exp:{<prefix>:<bucket>}   ZSET sid -> expiresAt

  ARGV[1] sid
  ARGV[2] now, ms (the store's clock): expiry checks
  ARGV[3] base version the changes were made against
  ARGV[4] expiresAt of the instance's copy, ms
  ARGV[5] physical expiry for PXAT of ARGV[4], ms (expiresAt + grace)
  ARGV[6] maxBytes: the merged total may not exceed it
  ARGV[7] frame format to write: '2', '1', or '3' with the keyed check's
          secrets (see frame_format in frame.lua)
  ARGV[8] '1' when values compare byte for byte (plain entries), '0' when
          they cannot (encrypted: a fresh IV per write), so only the
          version tells an unchanged key
  ARGV[9 ..] per change, 5 arguments: jsonKey, op ('s' set, 'u' unset),
          new value ('' for unset), base ('' absent, else 'v' .. value),
          time of the change, ms

  Returns
    {1, version, conflicts, applied, owner, conflictKey...}
                merged (version: the stored one, new when anything was written);
                owner: the session's owner when its expiry moved later, else ''
                (the caller extends that owner's index: indexUserSession-1.lua)
    {0}         missing or logically expired: nothing to merge into
    {2}         the id is retired (deleted or regenerated on the Redis side):
                it stays deleted, nothing written
    {-2, bytes} the merged total would exceed maxBytes: nothing written
    {-3}        the stored frame is unreadable or fails its check: nothing written
    {-5, keyId} the stored frame is checked with a key this store lacks: nothing written
]]
local FORMAT = frame_format(ARGV[7])
local now = tonumber(ARGV[2])

if frame_retired(KEYS[1]) then
  return {2}
end

-- No changes (a write-back check of a session this instance held): the
-- header alone says whether it is there and whether its expiry moves, so
-- the entries are neither read nor checked unless the expiry must move.
if #ARGV < 9 then
  local header = frame_get_header(KEYS[1])
  if not header then
    return {0}
  end
  local e = frame_number(header.e)
  local version = frame_version(header.v)
  if e == nil or version == nil then
    return {-3}
  end
  if e <= now then
    return {0}
  end
  if tonumber(ARGV[4]) <= e then
    return {1, version, 0, 0, ''}
  end
end

local state, current, body, version = frame_get_live(KEYS[1], ARGV[1], now)
if state == 'missing' then
  return {0}
end
if state == 'damaged' then
  return {-3}
end
if state == 'unknown-key' then
  return {-5, current}
end

local unchangedSession = version == tonumber(ARGV[3])
local comparable = ARGV[8] == '1'
local storedAt = frame_number(current.m)

-- The stored value of `key` ('' entries part when absent): nil when absent.
local function stored_value(key)
  local from = string.find(body, RS .. key .. US, 1, true)
  if not from then
    return nil
  end
  local start = from + #key + 2
  local after = string.find(body, RS, start, true)
  return string.sub(body, start, (after or (#body + 1)) - 1)
end

-- Decide every change first, against the stored entries as read.
local apply, conflictKeys = {}, {}
for i = 9, #ARGV, 5 do
  local key, op, value, base, at = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], tonumber(ARGV[i + 4])
  local stored = stored_value(key)
  local wanted = nil
  if op == 's' then
    wanted = value
  end
  if stored == wanted then
    -- Already what the change wants: nothing to write. Unless the session
    -- is still at the base, Redis changed the key too, to the same value:
    -- a conflict all the same (two increments of one counter from the
    -- same copy meet here, and one is lost). Both sides unsetting it loses
    -- nothing.
    if not unchangedSession and op == 's' then
      conflictKeys[#conflictKeys + 1] = key
    end
  elseif unchangedSession then
    apply[#apply + 1] = {key, wanted, at}
  else
    local baseValue = nil
    if base ~= '' then
      baseValue = string.sub(base, 2)
    end
    if comparable and stored == baseValue then
      apply[#apply + 1] = {key, wanted, at}
    else
      conflictKeys[#conflictKeys + 1] = key
      if at > storedAt then
        apply[#apply + 1] = {key, wanted, at}
      end
    end
  end
end

local newE = tonumber(ARGV[4])
-- current.e is a readable number: frame_get_live checked it.
local extend = newE > frame_number(current.e)
if #apply == 0 and not extend then
  local reply = {1, version, #conflictKeys, 0, ''}
  for _, key in ipairs(conflictKeys) do
    reply[#reply + 1] = key
  end
  return reply
end

-- One walk over the entries: replace or drop the applied keys in place,
-- append the new ones.
local entries = body
if #apply > 0 then
  local decided = {}
  for _, change in ipairs(apply) do
    decided[change[1]] = change
  end
  local out, pos = {}, 1
  while pos <= #body do
    local nextRs = string.find(body, RS, pos + 1, true)
    local entry = string.sub(body, pos + 1, (nextRs or (#body + 1)) - 1)
    local us = string.find(entry, US, 1, true)
    if not us then
      return {-3}
    end
    local key = string.sub(entry, 1, us - 1)
    local change = decided[key]
    if change then
      if change[2] then
        out[#out + 1] = RS .. key .. US .. change[2]
      end
      decided[key] = false
    elseif change == nil then
      out[#out + 1] = RS .. entry
    end
    pos = nextRs or (#body + 1)
  end
  for _, change in ipairs(apply) do
    if decided[change[1]] and change[2] then
      out[#out + 1] = RS .. change[1] .. US .. change[2]
    end
  end
  entries = table.concat(out)
end

local _, count = string.gsub(entries, RS, RS)
local z = #entries - 2 * count
if z > tonumber(ARGV[6]) then
  return {-2, z}
end

-- Written in the configured format, whatever format was read (its check passed above).
current.f = FORMAT
if #apply > 0 then
  current.v = string.format('%d', version + 1)
  -- updatedAt: the latest write time among the data now stored (not the
  -- merge's own time), so a later merge of another instance's changes
  -- still decides last-writer-wins by when the writes happened.
  local m = storedAt
  for _, change in ipairs(apply) do
    if change[3] > m then
      m = change[3]
    end
  end
  current.m = string.format('%d', m)
  version = version + 1
end
current.z = string.format('%d', z)
if extend then
  current.e = ARGV[4]
end
current.k = frame_check(ARGV[1], current, entries)
local value = frame_value(current, entries)
if extend then
  redis.call('SET', KEYS[1], value, 'PXAT', ARGV[5])
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
else
  redis.call('SET', KEYS[1], value, 'KEEPTTL')
end

local reply = {1, version, #conflictKeys, #apply, extend and (current.u or '') or ''}
for _, key in ipairs(conflictKeys) do
  reply[#reply + 1] = key
end
return reply

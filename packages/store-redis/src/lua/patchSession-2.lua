--[[
  Field-level merge into a live session, without a lock: set and unset
  top-level data keys, keep the exact byte total `z`, bump the version.
  Parallel patches of different keys never lose each other.

  Entries keep their order: a replaced key stays in place, a removed one
  disappears, new keys are appended in argument order.

  KEYS[1] session         <prefix>:s:{<prefix>:<bucket>}:<sid>   framed string
  KEYS[2] expiry bucket   <prefix>:exp:{<prefix>:<bucket>}   ZSET sid -> expiresAt

  ARGV[1] sid
  ARGV[2] now, ms (the store's clock): becomes updatedAt
  ARGV[3] new expiresAt, ms, or '' to keep it
  ARGV[4] physical expiry for PXAT, ms (expiresAt + grace), or ''
  ARGV[5] maxBytes: the merged total may not exceed it
  ARGV[6] frame format to write: '2', '1', or '3' with the keyed check's
          secrets (see frame_format in frame.lua)
  ARGV[7] expected version, or '' for none: with one, the merge happens only
          if the stored version still equals it (a lock holder's fenced
          commit: a holder whose lease ran out cannot write over a newer write)
  ARGV[8] n: number of keys to set
  ARGV[9 .. 8+2n] keys to set: jsonKey, value, ...
  ARGV[9+2n ..] keys to remove, as jsonKey

  Byte accounting matches SessionCodec.fieldBytes: an entry weighs
  #key + #value in bytes.

  Returns
    {1, newVersion, z, owner}
                      merged; z the new byte total (the writer's cache counts it);
                      owner: the session's owner when ARGV[3] moved its expiry,
                      else '' (the caller extends that owner's index:
                      indexUserSession-1.lua)
    {0}               missing or logically expired
    {-2, mergedBytes} the merged total would exceed maxBytes: nothing written
    {-3}              the stored frame is unreadable or fails its check: nothing written
    {-5, keyId}       the stored frame is checked with a key this store lacks: nothing written
    {-1, version}     ARGV[7] given and the stored version differs: nothing written
]]
local FORMAT = frame_format(ARGV[6])
local now = tonumber(ARGV[2])

-- Never merge into damaged data (see frame_get_live).
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
if ARGV[7] ~= '' and version ~= tonumber(ARGV[7]) then
  return {-1, current.v}
end

local setEnd = 8 + 2 * tonumber(ARGV[8])
local changed = (setEnd - 8) / 2 + (#ARGV - setEnd)
local entries
-- The new z, kept up to date by the splices when the old one can be
-- trusted: in format 2 the check just verified covers z. nil: count below.
local z = nil
if current.f ~= '1' then
  z = frame_number(current.z)
end

-- Few keys (a request's patch): splice each in place. The frame's
-- separators cannot occur inside a key or a value (JSON escapes control
-- characters, base64url has none), so RS key US marks exactly the entry of
-- that key and the next RS (or the end) closes it. The caller's keys are
-- distinct, and never both set and removed. Each splice copies the entries
-- once, so many keys take the single walk below instead.
-- Each splice also moves z by the weight it adds and removes (an entry
-- weighs its length less its RS and US), so z needs no count over all the
-- entries.
local function splice(from_entries, key, replacement)
  local from = string.find(from_entries, RS .. key .. US, 1, true)
  if not from then
    return nil
  end
  local after = string.find(from_entries, RS, from + 1, true)
  local tail = after and string.sub(from_entries, after) or ''
  if z then
    -- '' removes the entry: it adds no weight.
    local added = #replacement > 0 and #replacement - 2 or 0
    z = z + added - ((after or (#from_entries + 1)) - from - 2)
  end
  return string.sub(from_entries, 1, from - 1) .. replacement .. tail
end

if changed <= 16 then
  entries = body
  for i = 9, setEnd, 2 do
    local entry = RS .. ARGV[i] .. US .. ARGV[i + 1]
    local spliced = splice(entries, ARGV[i], entry)
    if spliced then
      entries = spliced
    else
      entries = entries .. entry
      if z then
        z = z + #entry - 2
      end
    end
  end
  for i = setEnd + 1, #ARGV do
    entries = splice(entries, ARGV[i], '') or entries
  end
else
  z = nil
  local setValue, removed = {}, {}
  for i = 9, setEnd, 2 do
    setValue[ARGV[i]] = ARGV[i + 1]
  end
  for i = setEnd + 1, #ARGV do
    removed[ARGV[i]] = true
  end
  local out, pos = {}, 1
  -- Walk the existing entries: body is '' or (RS key US value)+.
  while pos <= #body do
    local nextRs = string.find(body, RS, pos + 1, true)
    local entry = string.sub(body, pos + 1, (nextRs or (#body + 1)) - 1)
    local us = string.find(entry, US, 1, true)
    if not us then
      return {-3}
    end
    local key = string.sub(entry, 1, us - 1)
    if setValue[key] then
      out[#out + 1] = RS .. key .. US .. setValue[key]
      setValue[key] = false
    elseif not removed[key] then
      out[#out + 1] = RS .. entry
    end
    pos = nextRs or (#body + 1)
  end
  for i = 9, setEnd, 2 do
    if setValue[ARGV[i]] then
      out[#out + 1] = RS .. ARGV[i] .. US .. ARGV[i + 1]
      setValue[ARGV[i]] = false
    end
  end
  entries = table.concat(out)
end

if not z then
  -- z = Σ (#key + #value): each entry adds one RS and one US to its bytes.
  local _, count = string.gsub(entries, RS, RS)
  z = #entries - 2 * count
end
if z > tonumber(ARGV[5]) then
  return {-2, z}
end

-- Written in the configured format, whatever format was read (its check passed above).
current.f = FORMAT
current.v = string.format('%d', version + 1)
current.m = ARGV[2]
current.z = string.format('%d', z)
current.k = frame_check(ARGV[1], current, entries)
if ARGV[3] ~= '' then
  current.e = ARGV[3]
end
local value = frame_value(current, entries)
if ARGV[3] ~= '' then
  redis.call('SET', KEYS[1], value, 'PXAT', ARGV[4])
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
else
  redis.call('SET', KEYS[1], value, 'KEEPTTL')
end

local owner = ''
if ARGV[3] ~= '' then
  owner = current.u or ''
end
return {1, version + 1, z, owner}

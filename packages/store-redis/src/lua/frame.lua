--[[
  Prelude of every session script (prepended by redis-scripts.ts): reading and
  writing the framed session string.

  A session is ONE string value:

    SC1 <US> v <US> e <US> c <US> m <US> z <US> k <US> u  ( <RS> key <US> value )*

    US = \31 (unit separator), RS = \30 (record separator)
    v version, e expiresAt ms, c createdAt ms, m updatedAt ms,
    z Σ (#key + #value) over the entries, in bytes,
    k sha1 hex of (sid NUL entries): the integrity check of all the data,
      written by these scripts (redis.sha1hex) and verified by every load,
    u owner, '' for none
    key   JSON.stringify of a top-level data key
    value the value's JSON text, or 'e1:<keyId>:<base64url>' when encrypted
          (JSON.stringify escapes every control character and base64url has
          none, so neither separator can occur in a key or a value)

  Plain string.find with the 'plain' flag walks it; no cjson, whose number
  precision and empty-array handling would not round-trip session data.
]]
local US, RS = '\31', '\30'

-- A readable header: exactly 8 US-separated fields, the first 'SC1'.
local HEADER_PATTERN = '^SC1\31([^\31]*)\31([^\31]*)\31([^\31]*)\31([^\31]*)\31([^\31]*)\31([^\31]*)\31([^\31]*)$'

-- The fields of a header string (the frame up to its first RS), or nil when
-- it is unreadable. One pattern match instead of a split loop: the sweep
-- reads a header per expired session, and the loop was a fifth of its Redis
-- time.
local function frame_parse_header(header)
  local v, e, c, m, z, k, u = string.match(header, HEADER_PATTERN)
  if not v then
    return nil
  end
  return {v = v, e = e, c = c, m = m, z = z, k = k, u = u}
end

-- The header fields of a framed session and the entries part (from the first
-- RS on, '' when the session has no data). nil when the frame is unreadable.
local function frame_read(raw)
  local rs = string.find(raw, RS, 1, true)
  if not rs then
    return frame_parse_header(raw), ''
  end
  return frame_parse_header(string.sub(raw, 1, rs - 1)), string.sub(raw, rs)
end

-- The header string of `h` (fields as strings).
local function frame_header(h)
  return table.concat({'SC1', h.v, h.e, h.c, h.m, h.z, h.k, h.u}, US)
end

-- A header number as the loader (readSessionFrame) reads it: finite, or nil.
-- tonumber alone also accepts 'inf' and 'nan', which the loader refuses.
local function frame_number(text)
  local n = tonumber(text)
  if n == nil or n ~= n or n == math.huge or n == -math.huge then
    return nil
  end
  return n
end

-- The version as the loader accepts it: an integer from 1 to 2^53 - 1, or nil.
local function frame_version(text)
  local n = frame_number(text)
  if n == nil or n < 1 or n > 9007199254740991 or n % 1 ~= 0 then
    return nil
  end
  return n
end

-- The integrity check of a session's entries, bound to its id.
local function frame_check(sid, body)
  return redis.sha1hex(sid .. '\0' .. body)
end

-- The session at `key`: nil when missing; {} (no fields) when unreadable.
local function frame_get(key)
  local raw = redis.call('GET', key)
  if not raw then
    return nil, ''
  end
  local h, body = frame_read(raw)
  return h or {}, body
end

-- How many bytes frame_get_header reads first. A header is about 100 bytes
-- plus the owner id, so this covers owners up to about 150 bytes; a longer
-- header costs a second, full read.
local HEADER_PEEK = 256

-- HEADER_PATTERN for a header at the start of a whole frame: fields cannot
-- hold RS either (the header ends at the first RS), and the position after
-- the last field is captured to check that the header ends there.
local HEADER_AT_START = '^SC1\31([^\31\30]*)\31([^\31\30]*)\31([^\31\30]*)\31([^\31\30]*)\31([^\31\30]*)\31([^\31\30]*)\31([^\31\30]*)()'

-- frame_get for scripts that never touch the entries: only the header is
-- read (GETRANGE) and matched in place, so the cost does not grow with the
-- session's data. nil when missing; {} (no fields) when unreadable, exactly
-- as frame_get would say.
local function frame_get_header(key)
  local raw = redis.call('GETRANGE', key, 0, HEADER_PEEK - 1)
  if raw == '' then
    -- GETRANGE answers '' for a missing key and for an empty value alike.
    if redis.call('EXISTS', key) == 0 then
      return nil
    end
    return {}
  end
  local v, e, c, m, z, k, u, after = string.match(raw, HEADER_AT_START)
  if #raw == HEADER_PEEK and (not v or after > #raw) then
    -- The header may go on past what was read: read it all.
    raw = redis.call('GET', key)
    v, e, c, m, z, k, u, after = string.match(raw, HEADER_AT_START)
  end
  if not v or (after <= #raw and string.byte(raw, after) ~= 30) then
    return {}
  end
  return {v = v, e = e, c = c, m = m, z = z, k = k, u = u}
end

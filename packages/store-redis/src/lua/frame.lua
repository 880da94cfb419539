--[[
  Prelude of every session script (prepended by redis-scripts.ts): reading and
  writing the framed session string.

  A session is ONE string value:

    SC<f> <US> v <US> e <US> c <US> m <US> z <US> k <US> u  ( <RS> key <US> value )*

    US = \31 (unit separator), RS = \30 (record separator)
    f format: '2' is written by default; '1' (what earlier releases wrote)
      is read, and written when the store's frameFormat is 1 (rolling upgrades);
      '3' (keyed check) is written when the store encrypts at rest
    v version, e expiresAt ms, c createdAt ms, m updatedAt ms,
    z Σ (#key + #value) over the entries, in bytes,
    k the integrity check, written by these scripts (redis.sha1hex) and
      verified by every load (see frame_check): format 2 covers every
      field but e, format 1 only the entries, so a damaged owner or version
      went unnoticed; format 3 covers what format 2 does under a secret key
      (kid ':' mac, see frame_mac), so a forged frame fails it too,
    u owner, '' for none
    key   JSON.stringify of a top-level data key
    value the value's JSON text, or 'e1:<keyId>:<base64url>' when encrypted
          (JSON.stringify escapes every control character and base64url has
          none, so neither separator can occur in a key or a value)

  Plain string.find with the 'plain' flag walks it; no cjson, whose number
  precision and empty-array handling would not round-trip session data.

  A retired id (deleted, or retired by a save that expired it, as
  regenerate does) holds the TOMBSTONE instead of a frame until it expires
  (PXAT max(retired e + grace, now + minimum): see RETIRED_ID_MIN_TTL_MS in
  core). Every reader sees it as missing; createSession refuses the id.
]]
local US, RS = '\31', '\30'
local TOMBSTONE = 'SC0'

-- True when `key` holds a tombstone (GETRANGE reads at most 4 bytes: a
-- frame's first four are 'SC1' or 'SC2' and a US, never 'SC0').
local function frame_retired(key)
  return redis.call('GETRANGE', key, 0, 3) == TOMBSTONE
end

-- Replace the session at `key` with a tombstone, kept until the later of
-- the retired session's expiry plus grace (`e`, as stored; nil when
-- unreadable) and `floor` (both epoch ms).
local function frame_retire(key, e, grace, floor)
  local until_ms = tonumber(floor)
  local expiry = tonumber(e)
  if expiry ~= nil and expiry == expiry and expiry + tonumber(grace) > until_ms then
    until_ms = expiry + tonumber(grace)
  end
  redis.call('SET', key, TOMBSTONE, 'PXAT', string.format('%d', math.ceil(until_ms)))
end

-- A readable header at the start of a frame: 'SC1', 'SC2' or 'SC3', then
-- exactly 8 US-separated fields, none holding RS (the header ends at the
-- first RS); the position after the last field is captured, to check that
-- the header ends there (at an RS or the end of the frame).
local HEADER_AT_START = '^SC([123])\31([^\31\30]*)\31([^\31\30]*)\31([^\31\30]*)\31([^\31\30]*)\31([^\31\30]*)\31([^\31\30]*)\31([^\31\30]*)()'

-- The header fields of frame `raw`, and the position where its entries
-- start; nil when the header is unreadable. Matched in place, without a copy
-- of the header: Redis' Lua hashes every byte of every string it makes, so a
-- copy costs about as much as the match. One pattern instead of a split loop:
-- the sweep reads a header per expired session, and the loop was a fifth of
-- its Redis time.
local function frame_match_header(raw)
  local f, v, e, c, m, z, k, u, after = string.match(raw, HEADER_AT_START)
  if not f or (after <= #raw and string.byte(raw, after) ~= 30) then
    return nil
  end
  return {f = f, v = v, e = e, c = c, m = m, z = z, k = k, u = u}, after
end

-- The header fields of a framed session and the entries part (from the first
-- RS on, '' when the session has no data). nil when the frame is unreadable.
local function frame_read(raw)
  local h, after = frame_match_header(raw)
  if not h then
    return nil, ''
  end
  return h, string.sub(raw, after)
end

-- The frame of header fields `h` (strings, in h's format) and entries
-- `body` ('' or from its first RS on): one concatenation, so one new string.
local function frame_value(h, body)
  return 'SC' .. h.f .. US .. h.v .. US .. h.e .. US .. h.c .. US .. h.m .. US .. h.z .. US .. h.k .. US .. h.u .. body
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

-- Secrets of the keyed check (format 3), from the script's format argument
-- (frame_format): key id -> {inner, outer}, 64 hex characters each. nil
-- when the store does not encrypt: then a format-3 frame cannot be verified
-- and is refused like a damaged one.
local FRAME_KEYS = nil
-- The key id that checks frames written now (the ring's first).
local FRAME_KID = nil
-- Whether frames with an unkeyed check (formats 1 and 2) are still accepted.
local FRAME_UNKEYED_OK = true

-- The format to write, from a script's format argument: '1', '2' or '3',
-- followed, when the store encrypts at rest, by the keyed check's secrets:
--   f US acceptUnkeyed('0'|'1') (US kid US inner US outer)+
-- (the first key checks new frames; see SessionCodec.frameKeys). Call it
-- first: it also sets the keys every check below uses.
local function frame_format(arg)
  if #arg > 1 then
    FRAME_KEYS = {}
    FRAME_UNKEYED_OK = string.sub(arg, 3, 3) == '1'
    for kid, inner, outer in string.gmatch(string.sub(arg, 5), '([^\31]+)\31([^\31]+)\31([^\31]+)') do
      FRAME_KEYS[kid] = {inner, outer}
      FRAME_KID = FRAME_KID or kid
    end
  end
  return string.sub(arg, 1, 1)
end

-- What the checks of formats 2 and 3 cover: every header field but e (which
-- touch moves without rewriting the rest) and k itself, then the entries,
-- bound to the id.
local function frame_message(sid, h, body)
  return sid .. '\0' .. h.v .. US .. h.c .. US .. h.m .. US .. h.z .. US .. h.u .. '\0' .. body
end

-- The keyed check of `message` under key `kid`: kid ':' sha1hex(outer ..
-- sha1hex(inner .. message)), HMAC's nested form with two one-block keys
-- (Lua has no HMAC); frame-keys.ts (keyedFrameCheck) computes the same.
-- nil when the key is unknown here.
local function frame_mac(kid, message)
  local key = FRAME_KEYS and kid and FRAME_KEYS[kid]
  if not key then
    return nil
  end
  return kid .. ':' .. redis.sha1hex(key[2] .. redis.sha1hex(key[1] .. message))
end

-- The integrity check k to write for a frame with header fields `h` and
-- entries `body`, bound to its id. Format 3: keyed (frame_mac, current key).
-- Format 2: sha1 hex of frame_message. Format 1: sha1 hex of
-- (sid NUL entries). session-frame.ts (frameCheck) computes the same.
local function frame_check(sid, h, body)
  if h.f == '1' then
    return redis.sha1hex(sid .. '\0' .. body)
  end
  if h.f == '3' then
    return frame_mac(FRAME_KID, frame_message(sid, h, body))
  end
  return redis.sha1hex(frame_message(sid, h, body))
end

-- Whether the stored check h.k holds for header `h` and entries `body`. A
-- keyed frame is verified under the key its check names; an unkeyed one is
-- refused when the store requires keyed frames (it could have been planted
-- by anyone who can write to Redis).
local function frame_verify(sid, h, body)
  if h.k == nil then
    return false
  end
  if h.f == '3' then
    local kid = string.match(h.k, '^([^:]+):')
    return h.k == frame_mac(kid, frame_message(sid, h, body))
  end
  if FRAME_KEYS and not FRAME_UNKEYED_OK then
    return false
  end
  return h.k == frame_check(sid, h, body)
end

-- The key id of a keyed frame (format 3) whose key this store lacks (a key
-- rotation that has not reached it yet), else nil. Such a frame is not
-- damaged, only unreadable here: the loader says UNKNOWN_KEY_ID for it, and
-- a write must neither merge into it nor have it deleted as corrupted.
local function frame_unknown_key(h)
  if h.f ~= '3' or h.k == nil then
    return nil
  end
  local kid = string.match(h.k, '^([^:]+):')
  if kid and not (FRAME_KEYS and FRAME_KEYS[kid]) then
    return kid
  end
  return nil
end

-- The value at `key` for a script that writes it: the frame text, nil when
-- missing or a tombstone.
--
-- Read with GETEX (no option: the value, TTL untouched, nothing written or
-- replicated), not GET. A read-only command in a script makes Redis
-- remember, for a caller with CLIENT TRACKING on (the store's, when the
-- instance cache is on), every key the whole batched call declares, which
-- the call's writes then drop again: ~3 µs of a ~16 µs patch (--suite
-- script, "caller tracked"). GETEX is flagged a write, so not tracked; the
-- writer's cache is refilled by a read of its own (RedisStore's
-- scriptThenTrack).
--
-- Being a write, GETEX would also mark the script as having written, and
-- Redis refuses a script's command past maxmemory (noeviction) only while
-- the script has written nothing: the SET after it would then go through
-- in OOM. So an empty SETRANGE comes first: a no-op (nothing written,
-- nothing replicated, no key created, no invalidation) that Redis flags
-- denyoom, so in OOM the script is refused before it reads, as a GET-then-
-- SET script was at its SET.
local function frame_get_raw(key)
  redis.call('SETRANGE', key, 0, '')
  local raw = redis.call('GETEX', key)
  if not raw or raw == TOMBSTONE then
    return nil
  end
  return raw
end

-- The live session at `key` for a script that writes it, as the loader
-- would read it: 'missing' (no key, a tombstone, or logically expired at
-- `now`), 'damaged' (anything the loader refuses: an unreadable header
-- number or a failed check — a write must never merge into it, as its new
-- check would launder the damage), 'unknown-key' with the key id (see
-- frame_unknown_key), or 'live' with the header fields, the entries part
-- and the version as a number.
local function frame_get_live(key, sid, now)
  local raw = frame_get_raw(key)
  if not raw then
    return 'missing'
  end
  local current, body = frame_read(raw)
  current = current or {}
  local e = frame_number(current.e)
  if e == nil then
    return 'damaged'
  end
  if e <= now then
    return 'missing'
  end
  local version = frame_version(current.v)
  if version == nil or frame_number(current.c) == nil or frame_number(current.m) == nil then
    return 'damaged'
  end
  local kid = frame_unknown_key(current)
  if kid then
    return 'unknown-key', kid
  end
  if not frame_verify(sid, current, body) then
    return 'damaged'
  end
  return 'live', current, body, version
end

-- How many bytes frame_get_header reads first. A header is about 100 bytes
-- plus the owner id, so this covers owners up to about 150 bytes; a longer
-- header costs a second, full read.
local HEADER_PEEK = 256

-- The header at `key`, for scripts that never touch the entries: only the
-- header is read (GETRANGE) and matched in place, so the cost does not grow
-- with the session's data. nil when missing or a tombstone; {} (no fields)
-- when unreadable.
local function frame_get_header(key)
  local raw = redis.call('GETRANGE', key, 0, HEADER_PEEK - 1)
  if raw == '' then
    -- GETRANGE answers '' for a missing key and for an empty value alike.
    if redis.call('EXISTS', key) == 0 then
      return nil
    end
    return {}
  end
  if raw == TOMBSTONE then
    return nil
  end
  local h, after = frame_match_header(raw)
  if #raw == HEADER_PEEK and (not h or after > #raw) then
    -- The header may go on past what was read: read it all.
    h = frame_match_header(redis.call('GET', key))
  end
  return h or {}
end

--[[
  A replacing patch: store the whole frame the caller built from its copy
  of the session, if Redis still holds that copy. RedisStore sends one in
  place of patchSession when it holds a small copy of the session (its
  live cache entry, or what its own create or last write left), so Redis
  compares and stores instead of reading, checking and rebuilding the
  entries.

  KEYS[1] session         <prefix>:s:{<prefix>:<bucket>}:<sid>   framed string
  KEYS[2] expiry bucket   <prefix>:exp:{<prefix>:<bucket>}   ZSET sid -> expiresAt

  ARGV[1] sid
  ARGV[2] lead: the frame's first bytes as the caller's copy has them
          (magic, version and expiry, each followed by US)
  ARGV[3] the whole new frame: the copy with the patch's keys set and
          removed, version + 1, updatedAt, z and check (and ARGV[4] as
          its expiry, when given) already written in
  ARGV[4] new expiresAt, ms, or '' to keep it
  ARGV[5] physical expiry for PXAT, ms (expiresAt + grace), or ''

  The frame is stored only while the stored one begins with the lead: then
  Redis holds exactly the caller's copy (every write bumps the version,
  and a touch, the only write that keeps it, moves the expiry), so the new
  frame is what patchSession would have merged. Otherwise (another write
  came first, another format, missing, retired) nothing is written and the
  caller sends the keys to patchSession. The caller checks that the copy
  is live (expiry after now) and that an expected version is the copy's.
  Few arguments on purpose: a batch splits every call's packed arguments,
  ~0.4 µs each (--suite script).

  Returns 1 stored, 0 not (nothing written)
]]
local raw = frame_get_raw(KEYS[1])
if not raw or string.sub(raw, 1, #ARGV[2]) ~= ARGV[2] then
  return 0
end
if ARGV[4] ~= '' then
  redis.call('SET', KEYS[1], ARGV[3], 'PXAT', ARGV[5])
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
else
  redis.call('SET', KEYS[1], ARGV[3], 'KEEPTTL')
end
return 1

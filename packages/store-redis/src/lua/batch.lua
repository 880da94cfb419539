--[[
  The loop of a batched script: several calls of one session script in ONE
  Redis call (redis-scripts.ts builds `sc_<name>_<version>_batch` from frame.lua, then the
  script's body as `local function sc_one(KEYS, ARGV) … end`, then this).
  A busy instance sends the writes its event loop gathered in one turn
  together: Redis then parses, looks up and starts one script instead of
  one per write, and the client sends and decodes one command.

  KEYS     every call's keys, `per` of them per call, in call order (on
           Cluster the client batches only calls whose keys share a slot)
  ARGV[1]  per: keys per call (the script's own KEYS count)
  ARGV[2…] one per call: that call's arguments joined by NUL (the client
           batches only calls whose arguments hold none). One argument per
           call instead of one per value: the client builds and copies the
           command's text per argument, and that was most of what a batched
           write cost it.

  Returns one reply per call, in call order: what the script returned, or
  an error reply when that call raised. Each call is its own unit, exactly
  as if sent alone: one raising neither stops nor undoes the others (a
  script that raises keeps what it wrote before, batched or not).
]]
local per = tonumber(ARGV[1])
local replies = {}
for call = 1, #ARGV - 1 do
  local keys = {}
  for i = 1, per do
    keys[i] = KEYS[(call - 1) * per + i]
  end
  local packed, args, from = ARGV[call + 1], {}, 1
  while true do
    local nul = string.find(packed, '\0', from, true)
    if not nul then
      args[#args + 1] = string.sub(packed, from)
      break
    end
    args[#args + 1] = string.sub(packed, from, nul - 1)
    from = nul + 1
  end
  local ok, reply = pcall(sc_one, keys, args)
  if ok then
    replies[call] = reply
  else
    -- redis.call raises a table {err = …} (Redis 7) or a string.
    replies[call] = redis.error_reply(type(reply) == 'table' and reply.err or tostring(reply))
  end
end
return replies

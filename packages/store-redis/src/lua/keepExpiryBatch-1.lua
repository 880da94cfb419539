--[[
  Replace an outbox batch with what is left of it, only while it is still
  there: a consumer whose handler failed for some of a batch's expiries
  keeps just those for the retry. A batch already acknowledged (a second
  consumer handed the same job after a stall finished it) stays gone, so
  nothing is left in the outbox that no job refers to any more.

  KEYS[1] outbox   <prefix>:outbox:{<prefix>:<bucket>}  HASH batch id -> batch
  ARGV[1] the batch id
  ARGV[2] the expiries left, encoded as the sweep script writes a batch

  Returns 1 when the batch was replaced, 0 when it was gone.
]]
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1

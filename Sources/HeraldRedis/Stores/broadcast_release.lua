-- Makes a broadcast's waiting recipients of one shard due now in the shard's
-- retry set (started, resumed): those still `initial`, and those waiting in
-- `retry_scheduled` (a retry, or a turn at a limit) — which the sender then
-- looks at again; a recipient claimed or done is left alone.
--
-- KEYS: the shard's retry set, then per recipient its record. ARGV: now, then
-- per recipient its id. Returns per recipient 1 when made due, else 0.
local kr, now = KEYS[1], ARGV[1]
local out = {}
for i = 2, #KEYS do
  local state = redis.call('HGET', KEYS[i], 'state')
  if state == 'initial' or state == 'retry_scheduled' then
    redis.call('ZADD', kr, now, ARGV[i])
    out[i - 1] = 1
  else
    out[i - 1] = 0
  end
end
return out

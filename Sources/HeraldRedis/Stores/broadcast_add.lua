-- Adds recipients to a broadcast, in one shard: each gets its message record in
-- state `initial` (with the request the sender will read back), unless it has
-- one already (added before, or added twice in one upload), and its place in
-- the broadcast's recipient index. With ARGV[4] = '1' (the broadcast is
-- running) each new one is also made due in the shard's retry set, where the
-- sender's retry poller finds it.
--
-- KEYS: the broadcast's counts, the shard's retry set, the broadcast's
-- recipient index; then per recipient: its record, its contact's message index.
-- ARGV: now, campaign, channel, release ('1' or '0'); then per recipient: id,
-- contact, request. Returns per recipient 1 when added, 0 when it was there.
local nowText = ARGV[1]
--#include message_move.lua
local campaign, channel, release = ARGV[2], ARGV[3], ARGV[4] == '1'
local ks, kr, ki = KEYS[1], KEYS[2], KEYS[3]
local out = {}
local n = (#KEYS - 3) / 2
for i = 1, n do
  local km, kc = KEYS[2 + 2 * i], KEYS[3 + 2 * i]
  local a = 5 + 3 * (i - 1)
  local id, contact, request = ARGV[a], ARGV[a + 1], ARGV[a + 2]
  if redis.call('EXISTS', km) == 1 then
    out[i] = 0
  else
    move(km, kc, ks, nil, 'initial', id, contact, campaign, channel, {'request', request})
    redis.call('ZADD', ki, 0, id)
    if release then schedule(kr, id, nowText) end
    out[i] = 1
  end
end
flushShared()
return out

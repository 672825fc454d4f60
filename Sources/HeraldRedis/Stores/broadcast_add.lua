-- Adds recipients to a broadcast, in one shard: each gets its message record in
-- state `initial` (with the request the sender will read back), unless it has
-- one already (added before, or added twice in one upload), and its place in
-- the broadcast's recipient index. A new one marked to be released (the
-- caller's choice: its id is at or before the shard's release cursor, how far
-- the planner made recipients due, compared as bytes as the index orders them)
-- is also made due in the shard's retry set, where the sender's retry poller
-- finds it; the others wait for the planner's window.
--
-- KEYS: the broadcast's counts, the shard's retry set, the broadcast's
-- recipient index; then per recipient: its record, its contact's message index.
-- ARGV: now, campaign, channel; then per recipient: id, contact, request,
-- release ('1' or '0'). An empty request is the broadcast's own for that
-- contact: the record then has no `request` field, and whoever reads the
-- message before it is claimed makes it from the broadcast's definition and
-- the record's `created_ms` (`MessageStore.due`). A million queued recipients
-- then do not hold a million copies of one request. Returns per recipient 1
-- when added (2 when also made due), 0 when it was there.
local nowText = ARGV[1]
--#include message_move.lua
local campaign, channel = ARGV[2], ARGV[3]
local ks, kr, ki = KEYS[1], KEYS[2], KEYS[3]
local out = {}
local index = {}
local n = (#KEYS - 3) / 2
for i = 1, n do
  local km, kc = KEYS[2 + 2 * i], KEYS[3 + 2 * i]
  local a = 4 + 4 * (i - 1)
  local id, contact, request, release = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  if redis.call('EXISTS', km) == 1 then
    out[i] = 0
  else
    -- The whole new record in one HSET (move's creation path takes two; this
    -- script runs once per recipient of every broadcast), counted as `initial`.
    if request == '' then
      redis.call('HSET', km, 'created_ms', nowText, 'contact', contact, 'campaign', campaign, 'channel', channel, 'attempts', '0',
        'state', 'initial', 'updated_ms', nowText)
    else
      redis.call('HSET', km, 'created_ms', nowText, 'contact', contact, 'campaign', campaign, 'channel', channel, 'attempts', '0',
        'state', 'initial', 'updated_ms', nowText, 'request', request)
    end
    count(ks, 'initial', 1)
    redis.call('ZADD', kc, nowText, id)
    redis.call('ZREMRANGEBYRANK', kc, '0', '-501')
    -- The broadcast's index takes the call's new members in one ZADD.
    index[#index + 1], index[#index + 2] = 0, id
    if release == '1' then
      schedule(kr, id, nowText)
      out[i] = 2
    else
      out[i] = 1
    end
  end
end
if #index > 0 then redis.call('ZADD', ki, unpack(index)) end
flushShared()
return out

-- Shared by message_claim and message_record: moves a message's record `km` from its state (nil
-- when new) to `new`, keeping the campaign's per-state counts `ks` and the
-- contact's index `kc`; `extra` (field, value, …) goes into the same `HSET`.
-- Needs `nowText`.
--
-- Writes that the messages of one call share — the shard's retry set, a
-- campaign's counts — are gathered (`schedule`, `count`) and made once at the
-- end (`flushShared`): one `ZADD`, one `ZREM` and one `HINCRBY` per state, not
-- one per message. Nothing in either script reads those keys, so the result is
-- the same as writing them in order. Fewer calls, fewer append-only-file
-- entries: 26 % less work for Redis per message with the string times below
-- (`scripts/redis-cost/run`, docs/benchmarks.md).
local retryAt, stateCounts = {}, {}
-- A message's time in the retry set (false: out of it); the last one wins.
local function schedule(kr, id, at)
  retryAt[kr] = retryAt[kr] or {}
  retryAt[kr][id] = at
end
local function count(ks, state, delta)
  stateCounts[ks] = stateCounts[ks] or {}
  stateCounts[ks][state] = (stateCounts[ks][state] or 0) + delta
end
local function flushShared()
  for kr, ids in pairs(retryAt) do
    local adds, removes = {}, {}
    for id, at in pairs(ids) do
      if at then
        adds[#adds + 1] = at
        adds[#adds + 1] = id
      else
        removes[#removes + 1] = id
      end
    end
    if #adds > 0 then redis.call('ZADD', kr, unpack(adds)) end
    if #removes > 0 then redis.call('ZREM', kr, unpack(removes)) end
  end
  for ks, states in pairs(stateCounts) do
    for state, delta in pairs(states) do
      if delta ~= 0 then redis.call('HINCRBY', ks, state, delta) end
    end
  end
end
local function move(km, kc, ks, old, new, id, contact, campaign, channel, extra)
  if old then
    count(ks, old, -1)
  else
    redis.call('ZADD', kc, nowText, id)
    redis.call('ZREMRANGEBYRANK', kc, '0', '-501')
    redis.call('HSET', km, 'created_ms', nowText, 'contact', contact, 'campaign', campaign, 'channel', channel, 'attempts', '0')
  end
  count(ks, new, 1)
  redis.call('HSET', km, 'state', new, 'updated_ms', nowText, unpack(extra or {}))
end

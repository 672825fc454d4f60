if tonumber(redis.call('GET', KEYS[2]) or '0') ~= tonumber(ARGV[1]) then
  return redis.status_reply('FENCED')
end
local contacts = tonumber(ARGV[2])
local a = 3
local histories = {}
for c = 1, contacts do
  local key = KEYS[1 + 2 * c]
  local n = tonumber(ARGV[a])
  a = a + 1
  for _ = 1, n do
    redis.call('HSET', key, ARGV[a], ARGV[a + 1])
    local wake = tonumber(ARGV[a + 2])
    if wake >= 0 then
      redis.call('ZADD', KEYS[1], wake, ARGV[a + 3])
    else
      redis.call('ZREM', KEYS[1], ARGV[a + 3])
    end
    a = a + 4
  end
  -- Finished journeys past their retention (`JourneyRetention`).
  local d = tonumber(ARGV[a])
  a = a + 1
  for _ = 1, d do
    redis.call('HDEL', key, ARGV[a])
    a = a + 1
  end
  local m = tonumber(ARGV[a])
  a = a + 1
  if m > 0 then
    local history = KEYS[2 + 2 * c]
    for _ = 1, m do
      redis.call('ZADD', history, ARGV[a], ARGV[a + 1])
      a = a + 2
    end
    -- Trim only once the history has grown: conditions filter by time
    -- anyway, and most contacts get few messages.
    if redis.call('ZCARD', history) > 32 then
      redis.call('ZREMRANGEBYSCORE', history, '-inf', '(' .. ARGV[a])
      histories[#histories + 1] = history
    end
  end
  a = a + 1
end
local cap = tonumber(ARGV[a])
a = a + 1
for _, history in ipairs(histories) do
  redis.call('ZREMRANGEBYRANK', history, 0, -cap - 1)
end
local orphans = tonumber(ARGV[a])
a = a + 1
for _ = 1, orphans do
  redis.call('ZREM', KEYS[1], ARGV[a])
  a = a + 1
end
for k = 3 + 2 * contacts, #KEYS do
  local m = tonumber(ARGV[a])
  a = a + 1
  for _ = 1, m do
    redis.call('HINCRBY', KEYS[k], ARGV[a], ARGV[a + 1])
    a = a + 2
  end
end
return redis.status_reply('OK')

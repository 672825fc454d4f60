local now, limit = ARGV[1], ARGV[2]
local out = {}
for i = 3, #ARGV do
  local km, kr = KEYS[2 * i - 5], KEYS[2 * i - 4]
  local f = redis.call('HMGET', km, 'state', 'next_ms', 'reason')
  if f[1] == 'retry_scheduled' and tonumber(f[2] or '0') > tonumber(now) and string.find(f[3] or '', limit, 1, true) then
    redis.call('HSET', km, 'next_ms', now)
    redis.call('ZADD', kr, now, ARGV[i])
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out

local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, contact in ipairs(due) do
  local key = ARGV[3] .. contact
  local visit = redis.call('GET', key)
  redis.call('DEL', key)
  redis.call('ZREM', KEYS[1], contact)
  if visit then
    table.insert(out, contact)
    table.insert(out, visit)
  end
end
return out

local state = redis.call('HGET', KEYS[1], 'state')
if not state then return 'unknown' end
for allowed in string.gmatch(ARGV[1], '[^|]+') do
  if allowed == state then
    redis.call('HSET', KEYS[1], 'state', ARGV[2])
    redis.call('INCR', KEYS[2])
    return 1
  end
end
return state

local v = redis.call('HINCRBY', KEYS[1], 'last_version', 1)
local old = redis.call('HGET', KEYS[1], 'published')
if old then redis.call('HSET', KEYS[1], 'retired:' .. old, ARGV[3]) end
redis.call('SET', KEYS[1] .. ':v:' .. v, ARGV[2])
redis.call('HSET', KEYS[1], 'published', v, 'state', 'active')
redis.call('HDEL', KEYS[1], 'draft')
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('INCR', KEYS[3])
return v

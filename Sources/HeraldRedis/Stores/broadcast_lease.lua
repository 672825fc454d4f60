-- Takes or renews the lease on a broadcast's planner work for ARGV[2] ms
-- ('0': gives it back), if it is free or already ARGV[1]'s. Returns 1 or 0.
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
if ARGV[2] == '0' then redis.call('DEL', KEYS[1]) return 1 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1

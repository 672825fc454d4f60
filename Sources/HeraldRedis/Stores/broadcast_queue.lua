-- Queues an audience to be added to a broadcast, unless an addition is still
-- running: one script, so of two requests at once exactly one is taken (the
-- other gets its 409), never both answered 202 with one audience overwritten.
-- KEYS: the broadcast's hash, the planner's work set. ARGV: the audience (JSON),
-- the broadcast's id. Returns 1 when queued, 0 when one is running.
local current = redis.call('HGET', KEYS[1], 'adding')
if current and current ~= '' then return 0 end
redis.call('HSET', KEYS[1], 'adding', ARGV[1], 'cursor', '')
redis.call('SADD', KEYS[2], ARGV[2])
return 1

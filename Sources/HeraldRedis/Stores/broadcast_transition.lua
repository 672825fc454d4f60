-- Moves a broadcast from the state its caller read to the next one, only if it
-- is still there (two administrators, or the planner, acting at once), and
-- tells every worker (the campaigns' revision, which `CampaignCatalog`
-- watches) and the planner (its work set).
--
-- KEYS: the broadcast's hash, the campaigns' revision, the planner's work set.
-- ARGV: the state read, the new state, now (ms), the reason, the broadcast's id,
-- then field, value, … written with the state (what the planner must do next).
-- Returns 1 when moved, else the state it is in (or 'unknown').
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return 'unknown' end
if state ~= ARGV[1] then return state end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'updated_ms', ARGV[3], 'reason', ARGV[4], unpack(ARGV, 6))
redis.call('INCR', KEYS[2])
redis.call('SADD', KEYS[3], ARGV[5])
return 1

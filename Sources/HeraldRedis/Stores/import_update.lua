-- Records an import run's progress in job KEYS[1] and its rejected rows in
-- KEYS[2], only while the run still owns the job: ARGV[1] the run (the token
-- its claim set), ARGV[2] the retention (ms), ARGV[3] the rejected rows kept
-- at most, ARGV[4] how many field, value pairs follow, then those pairs, then
-- the rejected rows. Returns 1 when recorded, 0 when another run claimed the
-- job since (this one was stopped or paused past the stale bound).
if redis.call('HGET', KEYS[1], 'run') ~= ARGV[1] then return 0 end
local first = 5 + 2 * tonumber(ARGV[4])
-- A batch's rejected rows are added once: an update that does not move
-- 'committed' past the stored count is a repeat (a retry after a timeout
-- whose first try was applied), and its rows are already in the list.
local advances = true
for i = 5, first - 1, 2 do
  if ARGV[i] == 'committed' then
    advances = tonumber(ARGV[i + 1]) > tonumber(redis.call('HGET', KEYS[1], 'committed') or '-1')
  end
end
for i = 5, first - 1, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
if advances then
  -- In parts: unpack has a bound on how many values it returns.
  for i = first, #ARGV, 1000 do
    redis.call('RPUSH', KEYS[2], unpack(ARGV, i, math.min(i + 999, #ARGV)))
  end
  if #ARGV >= first then redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[3]) - 1) end
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1

-- Claims import job KEYS[1] for a run: ARGV[1] now, ARGV[2] the heartbeat age
-- after which a running job counts as abandoned, ARGV[3] the retention (ms),
-- ARGV[4] the run claiming it (a token `import_update` checks), then field,
-- value pairs to set. Returns 1 when claimed: the job is new, or it is neither
-- done nor beating. A claim sets the heartbeat to now and the run.
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'done' then return 0 end
if state == 'running' then
  local beat = tonumber(redis.call('HGET', KEYS[1], 'heartbeat_ms') or '0')
  if tonumber(ARGV[1]) - beat < tonumber(ARGV[2]) then return 0 end
end
redis.call('HSET', KEYS[1], 'state', 'running', 'heartbeat_ms', ARGV[1], 'run', ARGV[4])
for i = 5, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1

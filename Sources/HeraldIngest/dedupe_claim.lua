-- Claims event ids as pending: KEYS the dedupe keys, ARGV[1] the claim's life
-- (ms), ARGV[2] the claimant's pending value ('pending:<intake>'). Per key:
-- 0 = claimed, 1 = done (a duplicate), 2 = pending for another claimant.
-- A key pending for this same claimant is a claim whose reply never reached it
-- (a timeout while Redis was paused or slow): the claimant has nothing in flight
-- for it (EventIntake checks before asking), so it takes the claim back instead
-- of waiting for it to expire.
local out = {}
for i, key in ipairs(KEYS) do
  local old = redis.call('SET', key, ARGV[2], 'NX', 'PX', ARGV[1], 'GET')
  if not old then
    out[i] = 0
  elseif old == 'done' then
    out[i] = 1
  elseif old == ARGV[2] then
    redis.call('SET', key, ARGV[2], 'PX', ARGV[1])
    out[i] = 0
  else
    out[i] = 2
  end
end
return out

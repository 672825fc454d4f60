-- Makes a sender's unanswered claims due now: ARGV[1] now, ARGV[2] the
-- claimant, then an id per message; KEYS per message: record, retry set.
-- A message still in_progress under this claimant is one whose claim Redis
-- ran while the sender never got the answer (so it made no call); without
-- this it waits in the retry set for its lease to run out. Returns per
-- message 1 when made due, else 0 (not claimed then, or claimed since).
local now, claimant = ARGV[1], ARGV[2]
local out = {}
for i = 3, #ARGV do
  local km, kr = KEYS[2 * i - 5], KEYS[2 * i - 4]
  local f = redis.call('HMGET', km, 'state', 'claimant')
  if f[1] == 'in_progress' and f[2] == claimant then
    redis.call('ZADD', kr, now, ARGV[i])
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out

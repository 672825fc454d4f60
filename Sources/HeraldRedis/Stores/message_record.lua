-- Times stay strings where they are written (see message_claim).
local nowText, retention = ARGV[1], ARGV[2]
--#include message_move.lua
local shapes, k, a = {}, 1, 4
for s = 1, tonumber(ARGV[3]) do
  shapes[tostring(s)] = {new = ARGV[a], allowed = ARGV[a + 1], campaign = ARGV[a + 2], channel = ARGV[a + 3], deferred = ARGV[a + 4] == '1',
    ks = KEYS[k], kr = KEYS[k + 1]}
  a, k = a + 5, k + 2
end
-- The message's arguments start at ARGV[a] (its shape).
local function one(km, kc, sh, a)
  local new, id = sh.new, ARGV[a + 4]
  local state = redis.call('HGET', km, 'state')
  if not string.find(sh.allowed, ',' .. (state or 'initial') .. ',', 1, true) then return state end
  -- Every field changed in move's one HSET.
  local extra = {}
  if not state then extra[#extra + 1], extra[#extra + 2] = 'request', ARGV[a + 3] end
  if ARGV[a + 1] ~= '' then extra[#extra + 1], extra[#extra + 2] = 'reason', ARGV[a + 1] end
  if ARGV[a + 6] ~= '' then extra[#extra + 1], extra[#extra + 2] = 'provider_id', ARGV[a + 6] end
  if new == 'retry_scheduled' then
    extra[#extra + 1], extra[#extra + 2] = 'next_ms', ARGV[a + 2]
    schedule(sh.kr, id, ARGV[a + 2])
  else
    schedule(sh.kr, id, false)
  end
  move(km, kc, sh.ks, state, new, id, ARGV[a + 5], sh.campaign, sh.channel, extra)
  if sh.deferred and state == 'in_progress' then
    redis.call('HINCRBY', km, 'attempts', '-1')
    redis.call('HINCRBY', km, 'deferrals', '1')
  end
  if new ~= 'retry_scheduled' and new ~= 'in_progress' and new ~= 'initial' then
    redis.call('PEXPIRE', km, retention)
  end
  return new
end
local out = {}
while a <= #ARGV do
  out[#out + 1] = one(KEYS[k], KEYS[k + 1], shapes[ARGV[a]], a)
  k = k + 2
  a = a + 7
end
flushShared()
return out

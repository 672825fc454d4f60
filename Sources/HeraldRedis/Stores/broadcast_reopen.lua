-- Reopens a broadcast's failed recipients of one shard ("retry failed"):
-- those in `error` or `sending_failed`, except an outcome unknown (the provider
-- may have the message: sending again could deliver it twice). Each moves to
-- `retry_scheduled` with its attempts and deferrals back at 0, kept again (a
-- final record expires), and, when ARGV[2] is '1' (the broadcast runs), due now.
--
-- KEYS: the broadcast's counts, the shard's retry set, then per recipient its
-- record. ARGV: now, release ('1' or '0'), then per recipient its id.
-- Returns per recipient 1 when reopened, else 0.
local nowText = ARGV[1]
--#include message_move.lua
local ks, kr, release = KEYS[1], KEYS[2], ARGV[2] == '1'
local out = {}
for i = 3, #KEYS do
  local km, id = KEYS[i], ARGV[i]
  local f = redis.call('HMGET', km, 'state', 'reason', 'contact', 'campaign', 'channel')
  local state, reason = f[1], f[2] or ''
  if (state == 'error' or state == 'sending_failed') and string.sub(reason, 1, 15) ~= 'outcome unknown' then
    move(km, false, ks, state, 'retry_scheduled', id, f[3], f[4], f[5],
      {'attempts', '0', 'deferrals', '0', 'next_ms', nowText, 'reason', 'retried by an administrator'})
    redis.call('PERSIST', km)
    if release then schedule(kr, id, nowText) end
    out[i - 2] = 1
  else
    out[i - 2] = 0
  end
end
flushShared()
return out

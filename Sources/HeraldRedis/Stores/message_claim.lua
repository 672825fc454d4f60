-- Times stay the strings they came as wherever they are written: Redis
-- 7.0 formats a Lua number given to redis.call with snprintf('%.17g'),
-- which was an eighth of Redis's work per message (docs/benchmarks.md).
local nowText, leaseText, retention, claimant = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local now = tonumber(nowText)
--#include message_move.lua
-- The shapes, by their number as text (a message names its shape; no
-- `tonumber` per message: two strtod calls in Redis's Lua).
local shapes, k, a = {}, 1, 6
for s = 1, tonumber(ARGV[5]) do
  local shape = {campaign = ARGV[a], channel = ARGV[a + 1], ks = KEYS[k], kr = KEYS[k + 1]}
  if ARGV[a + 2] == '1' then
    shape.capLimit, shape.capTtl, shape.capReason = tonumber(ARGV[a + 3]), ARGV[a + 4], ARGV[a + 5]
    a = a + 6
  else
    a = a + 3
  end
  shapes[tostring(s)] = shape
  k = k + 2
end
local function claim(state, km, kc, kcap, sh, request, id, contact)
  -- The cap first: a message over it ends cancelled, never claimed; one
  -- admitted before (a retry, a replay) is not counted again. SADD tells
  -- both at once: 1 when this message is new to the set.
  if kcap and redis.call('SADD', kcap, id) == 1 then
    local members = redis.call('SCARD', kcap)
    if members > sh.capLimit then
      redis.call('SREM', kcap, id)
      local extra = {'reason', sh.capReason}
      if not state then extra[3], extra[4] = 'request', request end
      move(km, kc, sh.ks, state, 'cancelled', id, contact, sh.campaign, sh.channel, extra)
      schedule(sh.kr, id, false)
      redis.call('PEXPIRE', km, retention)
      return {'capped'}
    end
    -- Expires from the day's first message: the set is for one day.
    if members == 1 then redis.call('EXPIRE', kcap, sh.capTtl) end
  end
  -- Looked at again when the lease runs out, in case this sender dies.
  schedule(sh.kr, id, leaseText)
  if not state then
    -- The first attempt (nearly every claim): the whole record in one HSET.
    redis.call('ZADD', kc, nowText, id)
    redis.call('ZREMRANGEBYRANK', kc, '0', '-501')
    count(sh.ks, 'in_progress', 1)
    redis.call('HSET', km, 'created_ms', nowText, 'contact', contact, 'campaign', sh.campaign, 'channel', sh.channel, 'attempts', '1',
      'state', 'in_progress', 'updated_ms', nowText, 'request', request, 'lease_ms', leaseText, 'attempt_ms', nowText, 'claimant', claimant)
    return {'claimed', '1', '0', nowText}
  end
  move(km, kc, sh.ks, state, 'in_progress', id, contact, sh.campaign, sh.channel, {'request', request, 'lease_ms', leaseText, 'attempt_ms', nowText, 'claimant', claimant})
  local attempt = redis.call('HINCRBY', km, 'attempts', '1')
  local d = redis.call('HMGET', km, 'deferrals', 'created_ms')
  return {'claimed', tostring(attempt), d[1] or '0', d[2] or nowText}
end
local function one(km, kc, kcap, sh, request, id, contact, resume)
  local state = redis.call('HGET', km, 'state')
  if not state or state == 'initial' then return claim(state, km, kc, kcap, sh, request, id, contact) end
  if state == 'retry_scheduled' then
    if tonumber(redis.call('HGET', km, 'next_ms') or '0') > now then return {'not_due'} end
    return claim(state, km, kc, kcap, sh, request, id, contact)
  end
  if state == 'in_progress' then
    -- The claimant's own claim whose answer it never got (Redis went away
    -- after running the claim): it has made no call for it, so the claim
    -- is its again, with the same attempt.
    if resume == '1' and redis.call('HGET', km, 'claimant') == claimant then
      redis.call('HSET', km, 'lease_ms', leaseText, 'attempt_ms', nowText, 'updated_ms', nowText)
      schedule(sh.kr, id, leaseText)
      local d = redis.call('HMGET', km, 'attempts', 'deferrals', 'created_ms')
      return {'claimed', d[1] or '1', d[2] or '0', d[3] or nowText}
    end
    if tonumber(redis.call('HGET', km, 'lease_ms') or '0') > now then return {'busy'} end
    move(km, kc, sh.ks, state, 'sending_failed', id, contact, sh.campaign, sh.channel,
      {'reason', 'outcome unknown: a sender stopped during the provider call; not retried so it cannot be sent twice'})
    schedule(sh.kr, id, false)
    redis.call('PEXPIRE', km, retention)
    return {'unknown'}
  end
  return {'final', state}
end
local out = {}
while a <= #ARGV do
  local sh = shapes[ARGV[a]]
  local kcap = sh.capLimit and KEYS[k + 2] or nil
  out[#out + 1] = one(KEYS[k], KEYS[k + 1], kcap, sh, ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4])
  k = k + (kcap and 3 or 2)
  a = a + 5
end
flushShared()
return out

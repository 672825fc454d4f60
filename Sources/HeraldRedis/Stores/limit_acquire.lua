local now = tonumber(ARGV[1])
local recheck = tonumber(ARGV[2])
-- The numbers every message repeats (rate counts, limits, windows), read
-- once per call: `tonumber` on a string is two strtod calls in Redis's
-- Lua, a tenth of this script's work when made for each message.
local num = setmetatable({}, {__index = function(t, s)
  local v = tonumber(s)
  t[s] = v
  return v
end})
-- A window's expiry (twice the window) as text, once per call: a Lua
-- number given to redis.call is formatted with snprintf each time.
local twice = setmetatable({}, {__index = function(t, s)
  local v = string.format('%d', num[s] * 2)
  t[s] = v
  return v
end})
-- Per set: its count, the members added (member → true), NX for the
-- recipient sets (a recipient counts from its first message), how long
-- it must live. Per tier key: what GET returned (false: none set).
local counts, added, nx, expiry, tiers = {}, {}, {}, {}, {}
local function open(key, window, isUnique)
  if not counts[key] then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
    counts[key] = redis.call('ZCARD', key)
    added[key], nx[key] = {}, isUnique
  end
  return counts[key]
end
-- Writes the members this call added to a set; `exact` then reads its true count.
local function flush(key, exact)
  local args = {}
  for member in pairs(added[key]) do
    -- The time as it came: a Lua number would be formatted with
    -- snprintf for each member (see message_claim).
    args[#args + 1] = ARGV[1]
    args[#args + 1] = member
  end
  if #args == 0 then return end
  if nx[key] then redis.call('ZADD', key, 'NX', unpack(args)) else redis.call('ZADD', key, unpack(args)) end
  added[key] = {}
  if exact then counts[key] = redis.call('ZCARD', key) end
end
local function add(key, member, ms)
  if not added[key][member] then
    added[key][member] = true
    counts[key] = counts[key] + 1
  end
  expiry[key] = ms
end
-- The cap's turn: when the next recipient after the last turn given leaves
-- the window (each held message gets a different one, so they do not all
-- come back when the oldest leaves); past the set's recipients, a
-- recipient's share of the window later. The hold is noted under its turn
-- (`held`, trimmed of turns a minute past) for a tier change to bring forward.
local function uniqueTurn(key, uniq, heldKey, held, window, limit)
  local last = tonumber(redis.call('GET', key) or '0')
  local nextOut = redis.call('ZRANGEBYSCORE', uniq, '(' .. (last - window), '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  local at = nextOut[2] and tonumber(nextOut[2]) + window + 1 or last + window / limit
  at = math.max(at, now + 1)
  local ttl = math.ceil(at - now) + window
  redis.call('SET', key, string.format('%.0f', at), 'PX', ttl)
  if held ~= '' then
    redis.call('ZREMRANGEBYSCORE', heldKey, '-inf', now - 60000)
    redis.call('ZADD', heldKey, string.format('%.0f', at), held)
    redis.call('PEXPIRE', heldKey, ttl)
  end
  return math.min(math.ceil(at - now), recheck)
end
local function turn(key, wait, limit, window)
  local last = tonumber(redis.call('GET', key) or '0')
  local at = math.max(now + wait, last + window / limit)
  redis.call('SET', key, string.format('%.3f', at), 'PX', math.ceil(at - now) + window)
  return math.ceil(at - now)
end
-- The shapes: per rate its numbers and, unless they come with each
-- message (`own`: a rate of one), its keys; the cap's keys and numbers.
local shapes, k, a = {}, 1, 4
for s = 1, tonumber(ARGV[3]) do
  local rates, owns = {}, 0
  for i = 1, tonumber(ARGV[a]) do
    local r = {limit = num[ARGV[a + 1]], windowText = ARGV[a + 2], own = ARGV[a + 3] == '1'}
    r.window = num[r.windowText]
    if r.own then
      r.at, owns = 2 * owns, owns + 1
    else
      r.key, r.turn, k = KEYS[k], KEYS[k + 1], k + 2
    end
    rates[i] = r
    a = a + 3
  end
  local unique
  if ARGV[a + 1] == '1' then
    unique = {default = ARGV[a + 2], windowText = ARGV[a + 3], key = KEYS[k], tier = KEYS[k + 1], turn = KEYS[k + 2], held = KEYS[k + 3]}
    unique.window = num[unique.windowText]
    a, k = a + 4, k + 4
  else
    a = a + 2
  end
  shapes[s] = {rates = rates, n = #rates, owns = owns, unique = unique}
end
-- A rate's set and turn key for the message whose keys start at KEYS[k].
local function keysOf(r, k)
  if r.own then return KEYS[k + r.at], KEYS[k + r.at + 1] end
  return r.key, r.turn
end
-- One message: its keys from KEYS[k], its arguments from ARGV[a]. Returns
-- its answer and where the next message's keys and arguments start.
local function one(k, a)
  local shape, member = shapes[num[ARGV[a]]], ARGV[a + 1]
  local rates, n, u = shape.rates, shape.n, shape.unique
  local nextK, nextA = k + 2 * shape.owns, a + (u and 4 or 2)
  for i = 1, n do
    local r = rates[i]
    local key, turnKey = keysOf(r, k)
    local limit, window = r.limit, r.window
    if limit == 1 then
      -- One per window: full while the one let through is less than a
      -- window old, unless it is this message (a retry).
      local last = redis.call('GET', key)
      if last then
        local space = string.find(last, ' ', 1, true)
        local at = tonumber(string.sub(last, 1, space - 1))
        if at + window > now and string.sub(last, space + 1) ~= member then
          return {i - 1, turn(turnKey, at + window - now + 1, 1, window)}, nextK, nextA
        end
      end
    -- Below a tenth of the limit nothing can be full, whether or not the
    -- message already holds a slot (a retry): the common case.
    elseif open(key, window, false) >= math.ceil(limit / 10) then
      flush(key, true)
      local count = counts[key]
      if redis.call('ZSCORE', key, member) == false then
        if count >= limit then
          local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
          return {i - 1, turn(turnKey, tonumber(oldest[2]) + window - now + 1, limit, window)}, nextK, nextA
        end
        -- Spread: at most ceil(limit / 10) in any tenth of the window (the
        -- whole window holds at least that many here).
        if limit >= 10 then
          local tenth = math.floor(window / 10)
          local since = '(' .. (now - tenth)
          if redis.call('ZCOUNT', key, since, '+inf') >= math.ceil(limit / 10) then
            local first = redis.call('ZRANGEBYSCORE', key, since, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
            return {i - 1, turn(turnKey, tonumber(first[2]) + tenth - now + 1, limit, window)}, nextK, nextA
          end
        end
      end
    end
  end
  local uniq, recipient = u and u.key, u and ARGV[a + 2]
  if uniq then
    local window, tierKey = u.window, u.tier
    if tiers[tierKey] == nil then tiers[tierKey] = redis.call('GET', tierKey) end
    local limit = num[tiers[tierKey] or u.default]
    if limit > 0 and open(uniq, window, true) >= limit then
      flush(uniq, true)
      if redis.call('ZSCORE', uniq, recipient) == false and counts[uniq] >= limit then
        return {n, uniqueTurn(u.turn, uniq, u.held, ARGV[a + 3], window, limit)}, nextK, nextA
      end
    end
    open(uniq, window, true)
  end
  for i = 1, n do
    local r = rates[i]
    if r.limit == 1 then
      -- At once, not at the end of the call: the next message may be for
      -- the same recipient. (The expiry only cleans up; `now` decides.)
      redis.call('SET', (keysOf(r, k)), ARGV[1] .. ' ' .. member, 'PX', twice[r.windowText])
    else
      add((keysOf(r, k)), member, twice[r.windowText])
    end
  end
  if uniq then add(uniq, recipient, twice[u.windowText]) end
  return {-1}, nextK, nextA
end
local out = {}
while a <= #ARGV do
  local answer
  answer, k, a = one(k, a)
  out[#out + 1] = answer
end
for key in pairs(added) do flush(key, false) end
for key, ms in pairs(expiry) do redis.call('PEXPIRE', key, ms) end
return out

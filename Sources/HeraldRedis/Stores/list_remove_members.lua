-- Takes up to ARGV[3] members off a list in one shard, for deleting the list:
-- KEYS[1] is the shard's list index (herald:idx:list:{s}:<list>), ARGV[1] the
-- list, ARGV[2] the time of the change, ARGV[3] how many. Each member's profile
-- (herald:contact:{s}:<id>, same hash tag) loses the list; a member whose
-- profile is gone only leaves the index. Returns how many remain.
local tag = string.match(KEYS[1], '{[^}]*}')
local ids = redis.call('SRANDMEMBER', KEYS[1], tonumber(ARGV[3]))
for _, id in ipairs(ids) do
  local key = 'herald:contact:' .. tag .. ':' .. id
  local raw = redis.call('GET', key)
  if raw then
    local p = cjson.decode(raw)
    if type(p.lists) == 'table' and p.lists[ARGV[1]] then
      p.lists[ARGV[1]] = nil
      p.updated_at_ms = tonumber(ARGV[2])
      redis.call('SET', key, cjson.encode(p))
    end
  end
  redis.call('SREM', KEYS[1], id)
end
return redis.call('SCARD', KEYS[1])

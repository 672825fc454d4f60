-- Keeps the shard's indexes in step with a profile, so date and daily triggers
-- never scan all contacts: `herald:idx:md:{s}:<attr>:<MM-DD>` and
-- `herald:idx:date:{s}:<attr>:<YYYY-MM-DD>` for attributes holding a
-- `YYYY-MM-DD…` date, and `herald:idx:list:{s}:<list>` for list members.
-- `herald:idx:all:{s}` holds every contact id of the shard (a sorted set, all
-- scores 0, so ZRANGEBYLEX pages through the address book in id order).
local tag = string.match(KEYS[1], '{[^}]*}')
local function day(v)
  if type(v) == 'string' and string.match(v, '^%d%d%d%d%-%d%d%-%d%d') then return string.sub(v, 1, 10) end
  return nil
end
local function snapshot(p)
  local s = {attributes = {}, lists = {}}
  for k, v in pairs(type(p.attributes) == 'table' and p.attributes or {}) do s.attributes[k] = day(v) end
  for l, _ in pairs(type(p.lists) == 'table' and p.lists or {}) do s.lists[l] = true end
  return s
end
local function reindex(a, b)
  local names = {}
  for k, _ in pairs(a.attributes) do names[k] = true end
  for k, _ in pairs(b.attributes) do names[k] = true end
  for k, _ in pairs(names) do
    local old, new = a.attributes[k], b.attributes[k]
    if old ~= new then
      if old then
        redis.call('SREM', 'herald:idx:md:' .. tag .. ':' .. k .. ':' .. string.sub(old, 6), ARGV[2])
        redis.call('SREM', 'herald:idx:date:' .. tag .. ':' .. k .. ':' .. old, ARGV[2])
      end
      if new then
        redis.call('SADD', 'herald:idx:md:' .. tag .. ':' .. k .. ':' .. string.sub(new, 6), ARGV[2])
        redis.call('SADD', 'herald:idx:date:' .. tag .. ':' .. k .. ':' .. new, ARGV[2])
      end
    end
  end
  for l, _ in pairs(a.lists) do if not b.lists[l] then redis.call('SREM', 'herald:idx:list:' .. tag .. ':' .. l, ARGV[2]) end end
  for l, _ in pairs(b.lists) do if not a.lists[l] then redis.call('SADD', 'herald:idx:list:' .. tag .. ':' .. l, ARGV[2]) end end
end

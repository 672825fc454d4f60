-- Erases a contact's message records: KEYS[1] is its index (herald:mc:{t}:<id>),
-- KEYS[2] the shard's retry set. Every record the index names is deleted and
-- leaves the retry set; the index goes too. Returns the records' provider ids,
-- whose mappings (herald:pmid:<id>, no hash tag) the caller deletes.
local tag = string.match(KEYS[1], '{[^}]*}')
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
local pids = {}
for _, id in ipairs(ids) do
  local km = 'herald:m:' .. tag .. ':' .. id
  local pid = redis.call('HGET', km, 'provider_id')
  if pid then pids[#pids + 1] = pid end
  redis.call('DEL', km)
  redis.call('ZREM', KEYS[2], id)
end
redis.call('DEL', KEYS[1])
return pids

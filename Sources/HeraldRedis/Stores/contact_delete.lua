--#include contact_index.lua
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
reindex(snapshot(cjson.decode(raw)), {attributes = {}, lists = {}})
redis.call('DEL', KEYS[1])
redis.call('ZREM', 'herald:idx:all:' .. tag, ARGV[2])
return 1

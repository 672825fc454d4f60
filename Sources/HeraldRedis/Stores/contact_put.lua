-- Writes a profile merged in the worker (StoredProfile), only if the stored
-- bytes are still those the worker read: a check-and-set, so a change made
-- meanwhile (the API, another worker) is never lost; the worker reads again
-- and merges again (ContactStore.apply).
-- KEYS[1] the profile. ARGV[1] '1' when a profile was read, '0' when there was
-- none; ARGV[2] the bytes read; ARGV[3] the bytes to write; ARGV[4] the contact
-- id; ARGV[5..] index changes, '+<key>' (SADD) or '-<key>' (SREM) of the id.
-- Returns 1 when written, 0 when the profile changed since it was read.
local raw = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if raw ~= ARGV[2] then return 0 end
elseif raw then
  return 0
end
redis.call('SET', KEYS[1], ARGV[3])
if not raw then
  -- herald:idx:all:{s} holds every contact id of the shard (AddressBook).
  redis.call('ZADD', 'herald:idx:all:' .. string.match(KEYS[1], '{[^}]*}'), 0, ARGV[4])
end
for i = 5, #ARGV do
  local op, key = string.sub(ARGV[i], 1, 1), string.sub(ARGV[i], 2)
  if op == '+' then redis.call('SADD', key, ARGV[4]) else redis.call('SREM', key, ARGV[4]) end
end
return 1

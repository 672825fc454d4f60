-- Changes one email or phone lookup entry: KEYS[1] the hash, ARGV[1] the
-- address or number, ARGV[2] the contact id, ARGV[3] 'set' or 'forget'. A
-- forget removes the entry only while it still names this contact: another
-- contact may have taken the address since, and its entry must stay. One
-- script for both, so a batch's updates run in order in one pipeline.
if ARGV[3] == 'set' then
  return redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0

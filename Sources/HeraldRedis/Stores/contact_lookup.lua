-- Takes one email or phone lookup entry off: KEYS[1] the hash, ARGV[1] the
-- address or number, ARGV[2] the contact id. It removes the entry only while
-- it still names this contact: another contact may have taken the address
-- since, and its entry must stay. Entries are set with plain HSETs
-- (ContactStore+Lookup).
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0

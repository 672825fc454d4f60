-- Removes an email or phone lookup entry (KEYS[1], field ARGV[1]) only while it
-- still names this contact (ARGV[2]): another contact may have taken the
-- address since, and its entry must stay.
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0

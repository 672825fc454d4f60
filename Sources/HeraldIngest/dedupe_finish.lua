for i, key in ipairs(KEYS) do
  if ARGV[i + 1] == '1' then redis.call('SET', key, 'done', 'PX', ARGV[1]) else redis.call('DEL', key) end
end
return #KEYS

local out = {}
for i, key in ipairs(KEYS) do
  local old = redis.call('SET', key, 'pending', 'NX', 'PX', ARGV[1], 'GET')
  if not old then out[i] = 0 elseif old == 'done' then out[i] = 1 else out[i] = 2 end
end
return out

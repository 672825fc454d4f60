local out, added, removed = {}, {}, {}
for i = 2, #KEYS do
  local a = (i - 2) * 5
  local current = redis.call('GET', KEYS[i])
  local currentId = ''
  if current then currentId = string.sub(current, 1, (string.find(current, string.char(10), 1, true) or 1) - 1) end
  if currentId ~= ARGV[a + 2] then
    out[#out + 1] = 0
  else
    if ARGV[a + 3] == '' then
      redis.call('DEL', KEYS[i])
      removed[#removed + 1] = ARGV[a + 1]
    else
      redis.call('SET', KEYS[i], ARGV[a + 3], 'PX', ARGV[a + 5])
      added[#added + 1] = ARGV[a + 4]
      added[#added + 1] = ARGV[a + 1]
    end
    out[#out + 1] = 1
  end
end
if #added > 0 then redis.call('ZADD', KEYS[1], unpack(added)) end
if #removed > 0 then redis.call('ZREM', KEYS[1], unpack(removed)) end
return out

-- Keeps the newest `cap` entries of a table keyed by id (oldest by `time`,
-- then by id, go first); returns how many were dropped. Counting the table
-- is O(n) per added entry, with n at most the cap.
local function drop_oldest(t, cap, time)
  local all = {}
  for id, v in pairs(t) do all[#all + 1] = {id, tonumber(time(v)) or 0} end
  if #all <= cap then return 0 end
  table.sort(all, function(a, b) if a[2] ~= b[2] then return a[2] < b[2] end return a[1] < b[1] end)
  local n = #all - cap
  for i = 1, n do t[all[i][1]] = nil end
  return n
end

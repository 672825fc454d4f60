--#include contact_index.lua
--#include contact_caps.lua
local raw = redis.call('GET', KEYS[1])
local p
if raw then p = cjson.decode(raw) else p = {id = ARGV[2]} end
-- Only attribute and list changes move the indexes: other changes (activity,
-- purchases, notes, fields) skip both snapshots, the most frequent case.
local c = cjson.decode(ARGV[1])
local indexed = c.replace or c.attributes or c.add_lists or c.remove_lists
local before = indexed and snapshot(p)
local function text(v) if type(v) == 'string' then return v end return false end
local email_before, phone_before = text(p.email), text(p.phone)
if c.replace then
  p = {id = ARGV[2], purchases = p.purchases, notes = p.notes, purchases_older = p.purchases_older,
       purchase_totals = p.purchase_totals, purchases_older_total = p.purchases_older_total, activity = p.activity}
end
for _, f in ipairs({'attributes', 'tags', 'lists', 'consent', 'notes', 'purchases'}) do
  if type(p[f]) ~= 'table' then p[f] = {} end
end
if c.fields then
  for k, v in pairs(c.fields) do
    if v == cjson.null then p[k] = nil else p[k] = v end
  end
  if type(p.consent) ~= 'table' then p.consent = {} end
end
if c.attributes then
  for k, v in pairs(c.attributes) do
    if v == cjson.null then p.attributes[k] = nil else p.attributes[k] = v end
  end
end
for _, t in ipairs(c.add_tags or {}) do p.tags[t] = true end
for _, t in ipairs(c.remove_tags or {}) do p.tags[t] = nil end
for _, l in ipairs(c.add_lists or {}) do p.lists[l] = true end
for _, l in ipairs(c.remove_lists or {}) do p.lists[l] = nil end
if c.purchase then
  p.purchases[c.purchase.id] = c.purchase.at
  -- Amounts live beside the times (only for purchases that had one), so
  -- profiles without amounts keep their old form.
  if c.purchase.total then
    if type(p.purchase_totals) ~= 'table' then p.purchase_totals = {} end
    p.purchase_totals[c.purchase.id] = c.purchase.total
  end
  local dropped = drop_oldest(p.purchases, PURCHASE_CAP, function(at) return at end)
  if dropped > 0 then
    p.purchases_older = (tonumber(p.purchases_older) or 0) + dropped
    if type(p.purchase_totals) == 'table' then
      for id, total in pairs(p.purchase_totals) do
        if p.purchases[id] == nil then
          p.purchases_older_total = (tonumber(p.purchases_older_total) or 0) + (tonumber(total) or 0)
          p.purchase_totals[id] = nil
        end
      end
    end
  end
end
if c.activity then
  -- The newest ACTIVITY_TIMES events per key as {time, tag}, ascending; the tag
  -- comes from the event id, so a replayed event (same key, time and tag) adds
  -- nothing while two events of one millisecond (a batch without timestamps)
  -- both count. A bare number is an entry of tag 0. Beyond ACTIVITY_KEYS keys,
  -- the key whose newest event is oldest goes.
  if type(p.activity) ~= 'table' then p.activity = {} end
  local at, tag = c.activity.at, c.activity.tag
  local function entry(e)
    if type(e) == 'table' then return tonumber(e[1]) or 0, tonumber(e[2]) or 0 end
    return tonumber(e) or 0, 0
  end
  local added = false
  for _, k in ipairs(c.activity.keys) do
    local times = p.activity[k]
    if type(times) ~= 'table' then times = {}; added = true end
    -- Walk back from the newest to where the event belongs (most events are
    -- the newest), unless it is there already.
    local i = #times
    while i > 0 do
      local a, t = entry(times[i])
      if a < at or (a == at and t <= tag) then break end
      i = i - 1
    end
    local a, t = 0, -1
    if i > 0 then a, t = entry(times[i]) end
    if i == 0 or a ~= at or t ~= tag then
      table.insert(times, i + 1, {at, tag})
      while #times > ACTIVITY_TIMES do table.remove(times, 1) end
      p.activity[k] = times
    end
  end
  if added then
    local keys = {}
    for k, times in pairs(p.activity) do
      keys[#keys + 1] = {k, type(times) == 'table' and (entry(times[#times])) or 0}
    end
    if #keys > ACTIVITY_KEYS then
      table.sort(keys, function(a, b) if a[2] ~= b[2] then return a[2] < b[2] end return a[1] < b[1] end)
      for i = 1, #keys - ACTIVITY_KEYS do p.activity[keys[i][1]] = nil end
    end
  end
end
if c.note then
  p.notes[c.note.id] = {text = c.note.text, at = c.note.at}
  drop_oldest(p.notes, NOTE_CAP, function(n) return type(n) == 'table' and tonumber(n.at) or 0 end)
end
p.updated_at_ms = c.now
if indexed then reindex(before, snapshot(p)) end
local out = cjson.encode(p)
redis.call('SET', KEYS[1], out)
redis.call('ZADD', 'herald:idx:all:' .. tag, 0, ARGV[2])
-- The email and phone before and after, for the lookup indexes, which live in
-- the slots of the address and the number, not of the contact (ContactStore+Lookup).
return {out, email_before, phone_before, text(p.email), text(p.phone)}

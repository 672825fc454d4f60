--#include contact_index.lua
--#include contact_caps.lua
local raw = redis.call('GET', KEYS[1])
local p
if raw then p = cjson.decode(raw) else p = {id = ARGV[2]} end
local before = snapshot(p)
local function text(v) if type(v) == 'string' then return v end return false end
local email_before, phone_before = text(p.email), text(p.phone)
local c = cjson.decode(ARGV[1])
if c.replace then
  p = {id = ARGV[2], purchases = p.purchases, notes = p.notes, purchases_older = p.purchases_older}
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
  local dropped = drop_oldest(p.purchases, PURCHASE_CAP, function(at) return at end)
  if dropped > 0 then p.purchases_older = (tonumber(p.purchases_older) or 0) + dropped end
end
if c.note then
  p.notes[c.note.id] = {text = c.note.text, at = c.note.at}
  drop_oldest(p.notes, NOTE_CAP, function(n) return type(n) == 'table' and tonumber(n.at) or 0 end)
end
p.updated_at_ms = c.now
reindex(before, snapshot(p))
local out = cjson.encode(p)
redis.call('SET', KEYS[1], out)
redis.call('ZADD', 'herald:idx:all:' .. tag, 0, ARGV[2])
-- The email and phone before and after, for the lookup indexes, which live in
-- the slots of the address and the number, not of the contact (ContactStore+Lookup).
return {out, email_before, phone_before, text(p.email), text(p.phone)}

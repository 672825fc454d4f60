import HeraldCore

/// Contact profiles in Redis: one JSON document per contact under
/// `herald:contact:{shard}:<id>`, changed only by one Lua script so every change
/// is atomic (no lost update between the API and the event stream).
public struct ContactStore: Sendable {
    let redis: RedisPool
    let partitions: Int

    public init(redis: RedisPool, partitions: Int) {
        self.redis = redis
        self.partitions = partitions
    }

    public func key(_ contactId: String) -> String {
        "herald:contact:\(Shard.hashTag(Shard.of(contactId, partitions: partitions))):\(contactId)"
    }

    /// The profile, or nil when the contact is unknown.
    public func get(_ contactId: String) async throws -> ContactProfile? {
        guard case .bulk(let bytes) = try await redis.execute(["GET", key(contactId)]) else { return nil }
        return (try? JSONValue.parse(bytes)).flatMap(ContactProfile.decodeStored)
    }

    /// Several profiles in one round trip; contacts without one are left out.
    public func get(many contactIds: [String]) async throws -> [String: ContactProfile] {
        let replies = try await redis.pipeline(contactIds.map { ["GET", key($0)] })
        var out: [String: ContactProfile] = [:]
        for (id, reply) in zip(contactIds, replies) {
            if case .error(let message) = reply { throw RedisError(code: .server, message: "GET \(key(id)): \(message)") }
            if case .bulk(let bytes) = reply, let p = ContactProfile.decodeStored(bytes: bytes) { out[id] = p }
        }
        return out
    }

    /// Applies a change atomically and returns the profile after it.
    @discardableResult
    public func apply(_ change: ContactChange, to contactId: String, now: Int64) async throws -> ContactProfile {
        let reply = try await redis.eval(Self.applyScript, keys: [key(contactId)], arguments: [change.json(now: now).jsonString, contactId])
        guard case .bulk(let bytes) = reply, let p = ContactProfile.decodeStored(bytes: bytes) else {
            throw RedisError(code: .server, message: "contact_apply returned no profile")
        }
        return p
    }

    /// Applies many changes in order, in one round trip (events of a batch).
    public func apply(_ changes: [(contactId: String, change: ContactChange)], now: Int64) async throws {
        let replies = try await redis.evalMany(Self.applyScript, calls: changes.map { (keys: [key($0.contactId)], arguments: [$0.change.json(now: now).jsonString, $0.contactId]) })
        for case .error(let message) in replies { throw RedisError(code: .server, message: "contact_apply: \(message)") }
    }

    /// Erases the profile. Returns whether it existed.
    @discardableResult
    public func delete(_ contactId: String) async throws -> Bool {
        (try await redis.eval(Self.deleteScript, keys: [key(contactId)], arguments: ["", contactId]).int ?? 0) > 0
    }

    /// Keeps the newest `cap` entries of a table keyed by id (oldest by `time`,
    /// then by id, go first); returns how many were dropped. Counting the table
    /// is O(n) per added entry, with n at most the cap.
    static let capFunctions = """
        local PURCHASE_CAP = \(ContactProfile.purchaseCap)
        local NOTE_CAP = \(ContactProfile.noteCap)
        local function drop_oldest(t, cap, time)
          local all = {}
          for id, v in pairs(t) do all[#all + 1] = {id, tonumber(time(v)) or 0} end
          if #all <= cap then return 0 end
          table.sort(all, function(a, b) if a[2] ~= b[2] then return a[2] < b[2] end return a[1] < b[1] end)
          local n = #all - cap
          for i = 1, n do t[all[i][1]] = nil end
          return n
        end

        """

    /// Sets (tags, lists) are JSON objects `{name: true}` because Redis's cjson
    /// encodes an empty Lua table as `{}`; purchases and notes are keyed by id so a
    /// replayed event changes nothing.
    static let applyScript = RedisScript(name: "contact_apply", source: indexFunctions + capFunctions + """
        local raw = redis.call('GET', KEYS[1])
        local p
        if raw then p = cjson.decode(raw) else p = {id = ARGV[2]} end
        local before = snapshot(p)
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
        return out
        """)

    /// Deletes a profile and removes it from the indexes; returns 1 if it existed.
    static let deleteScript = RedisScript(name: "contact_delete", source: indexFunctions + """
        local raw = redis.call('GET', KEYS[1])
        if not raw then return 0 end
        reindex(snapshot(cjson.decode(raw)), {attributes = {}, lists = {}})
        redis.call('DEL', KEYS[1])
        return 1
        """)

    /// Keeps the shard's indexes in step with a profile, so date and daily triggers
    /// never scan all contacts: `herald:idx:md:{s}:<attr>:<MM-DD>` and
    /// `herald:idx:date:{s}:<attr>:<YYYY-MM-DD>` for attributes holding a
    /// `YYYY-MM-DD…` date, and `herald:idx:list:{s}:<list>` for list members.
    static let indexFunctions = """
        local tag = string.match(KEYS[1], '{[^}]*}')
        local function day(v)
          if type(v) == 'string' and string.match(v, '^%d%d%d%d%-%d%d%-%d%d') then return string.sub(v, 1, 10) end
          return nil
        end
        local function snapshot(p)
          local s = {attributes = {}, lists = {}}
          for k, v in pairs(type(p.attributes) == 'table' and p.attributes or {}) do s.attributes[k] = day(v) end
          for l, _ in pairs(type(p.lists) == 'table' and p.lists or {}) do s.lists[l] = true end
          return s
        end
        local function reindex(a, b)
          local names = {}
          for k, _ in pairs(a.attributes) do names[k] = true end
          for k, _ in pairs(b.attributes) do names[k] = true end
          for k, _ in pairs(names) do
            local old, new = a.attributes[k], b.attributes[k]
            if old ~= new then
              if old then
                redis.call('SREM', 'herald:idx:md:' .. tag .. ':' .. k .. ':' .. string.sub(old, 6), ARGV[2])
                redis.call('SREM', 'herald:idx:date:' .. tag .. ':' .. k .. ':' .. old, ARGV[2])
              end
              if new then
                redis.call('SADD', 'herald:idx:md:' .. tag .. ':' .. k .. ':' .. string.sub(new, 6), ARGV[2])
                redis.call('SADD', 'herald:idx:date:' .. tag .. ':' .. k .. ':' .. new, ARGV[2])
              end
            end
          end
          for l, _ in pairs(a.lists) do if not b.lists[l] then redis.call('SREM', 'herald:idx:list:' .. tag .. ':' .. l, ARGV[2]) end end
          for l, _ in pairs(b.lists) do if not a.lists[l] then redis.call('SADD', 'herald:idx:list:' .. tag .. ':' .. l, ARGV[2]) end end
        end

        """

    // MARK: Indexes

    /// Contacts of a shard whose date attribute falls on this month and day (`MM-DD`).
    public func contacts(shard: Int, attribute: String, monthDay: String) async throws -> [String] {
        try await members("herald:idx:md:\(Shard.hashTag(shard)):\(attribute):\(monthDay)")
    }

    /// Contacts of a shard whose date attribute is this date (`YYYY-MM-DD`).
    public func contacts(shard: Int, attribute: String, date: String) async throws -> [String] {
        try await members("herald:idx:date:\(Shard.hashTag(shard)):\(attribute):\(date)")
    }

    /// Contacts of a shard subscribed to a list.
    public func contacts(shard: Int, list: String) async throws -> [String] {
        try await members("herald:idx:list:\(Shard.hashTag(shard)):\(list)")
    }

    private func members(_ key: String) async throws -> [String] {
        (try await redis.execute(["SMEMBERS", key]).array ?? []).compactMap(\.string).sorted()
    }
}

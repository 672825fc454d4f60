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

    /// Applies a change atomically and returns the profile after it.
    @discardableResult
    public func apply(_ change: ContactChange, to contactId: String, now: Int64) async throws -> ContactProfile {
        let reply = try await redis.eval(Self.applyScript, keys: [key(contactId)], arguments: [change.json(now: now).jsonString, contactId])
        guard case .bulk(let bytes) = reply, let p = (try? JSONValue.parse(bytes)).flatMap(ContactProfile.decodeStored) else {
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
        (try await redis.execute(["DEL", key(contactId)]).int ?? 0) > 0
    }

    /// Sets (tags, lists) are JSON objects `{name: true}` because Redis's cjson
    /// encodes an empty Lua table as `{}`; purchases and notes are keyed by id so a
    /// replayed event changes nothing.
    static let applyScript = RedisScript(name: "contact_apply", source: """
        local raw = redis.call('GET', KEYS[1])
        local p
        if raw then p = cjson.decode(raw) else p = {id = ARGV[2]} end
        local c = cjson.decode(ARGV[1])
        if c.replace then
          p = {id = ARGV[2], purchases = p.purchases, notes = p.notes}
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
        if c.purchase then p.purchases[c.purchase.id] = c.purchase.at end
        if c.note then p.notes[c.note.id] = {text = c.note.text, at = c.note.at} end
        p.updated_at_ms = c.now
        local out = cjson.encode(p)
        redis.call('SET', KEYS[1], out)
        return out
        """)
}

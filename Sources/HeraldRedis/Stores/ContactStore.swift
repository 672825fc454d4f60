import HeraldCore

/// Contact profiles in Redis: one JSON document per contact under
/// `herald:contact:{shard}:<id>`, changed only by one Lua script so every change
/// is atomic (no lost update between the API and the event stream).
public struct ContactStore: Sendable {
    let redis: RedisPool
    let partitions: Int

    /// A store on `redis` with `partitions` shards.
    public init(redis: RedisPool, partitions: Int) {
        self.redis = redis
        self.partitions = partitions
    }

    /// The Redis key of a contact's profile: `herald:contact:{shard}:<id>`.
    public func key(_ contactId: String) -> String {
        "herald:contact:\(Shard.hashTag(Shard.of(contactId, partitions: partitions))):\(contactId)"
    }

    /// The profile, or nil when the contact is unknown.
    public func get(_ contactId: String) async throws -> ContactProfile? {
        guard case .bulk(let bytes) = try await redis.execute(["GET", key(contactId)]) else { return nil }
        return try? ContactProfile(decoding: bytes)
    }

    /// Several profiles in one round trip; contacts without one are left out.
    public func get(many contactIds: [String]) async throws -> [String: ContactProfile] {
        let replies = try await redis.pipeline(contactIds.map { ["GET", key($0)] })
        var out: [String: ContactProfile] = [:]
        for (id, reply) in zip(contactIds, replies) {
            if case .error(let message) = reply { throw RedisError(code: .server, message: "GET \(key(id)): \(message)") }
            if case .bulk(let bytes) = reply, let p = try? ContactProfile(decoding: bytes) { out[id] = p }
        }
        return out
    }

    /// Applies a change atomically and returns the profile after it; keeps the
    /// email and phone lookups (`ContactStore+Lookup`) in step when it touches them.
    @discardableResult
    public func apply(_ change: ContactChange, to contactId: String, now: Int64) async throws -> ContactProfile {
        let reply = try await redis.eval(Self.applyScript, keys: [key(contactId)], arguments: [change.json(now: now).jsonString, contactId])
        guard let parts = reply.array, case .bulk(let bytes)? = parts.first, let p = try? ContactProfile(decoding: bytes) else {
            throw RedisError(code: .server, message: "contact_apply returned no profile")
        }
        if change.touchesLookups { try await updateLookups([(contactId, parts)]) }
        return p
    }

    /// Applies many changes in order, in one round trip (events of a batch),
    /// then the lookups of those that touch email or phone in one more.
    public func apply(_ changes: [(contactId: String, change: ContactChange)], now: Int64) async throws {
        let replies = try await redis.evalMany(
            Self.applyScript, calls: changes.map { (keys: [key($0.contactId)], arguments: [$0.change.json(now: now).jsonString, $0.contactId]) })
        for case .error(let message) in replies { throw RedisError(code: .server, message: "contact_apply: \(message)") }
        let touched = zip(changes, replies).compactMap { c, reply in c.change.touchesLookups ? (c.contactId, reply.array ?? []) : nil }
        if !touched.isEmpty { try await updateLookups(touched) }
    }

    /// Erases the profile. Returns whether it existed.
    @discardableResult
    public func delete(_ contactId: String) async throws -> Bool {
        (try await redis.eval(Self.deleteScript, keys: [key(contactId)], arguments: ["", contactId]).int ?? 0) > 0
    }

    /// Sets (tags, lists) are JSON objects `{name: true}` because Redis's cjson
    /// encodes an empty Lua table as `{}`; purchases and notes are keyed by id so a
    /// replayed event changes nothing.
    /// The caps come from `ContactProfile`, so they are declared once (in Swift)
    /// and prefixed to the script rather than written into `contact_caps.lua`.
    static let applyScript = RedisScript(
        name: "contact_apply",
        source: "local PURCHASE_CAP = \(ContactProfile.purchaseCap)\nlocal NOTE_CAP = \(ContactProfile.noteCap)\n"
            + "local ACTIVITY_TIMES = \(ContactActivity.timesCap)\nlocal ACTIVITY_KEYS = \(ContactActivity.keysCap)\n" + LuaSource.contactApply)

    /// Deletes a profile and removes it from the indexes; returns 1 if it existed.
    static let deleteScript = RedisScript(name: "contact_delete", source: LuaSource.contactDelete)

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

import HeraldCore

/// Contact profiles in Redis: one JSON document per contact under
/// `herald:contact:{shard}:<id>`. Changes are merged in the worker
/// (`StoredProfile`) and written with a check-and-set (`contact_put`), so no
/// update is lost between the API and the event stream.
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

    /// Applies a change and returns the profile after it; keeps the email and
    /// phone lookups (`ContactStore+Lookup`) in step when it touches them.
    @discardableResult
    public func apply(_ change: ContactChange, to contactId: String, now: Int64) async throws -> ContactProfile {
        let (written, lookups) = try await merge([(contactId, change)], now: now)
        try await updateLookups(lookups)
        guard let p = written[contactId]?.profile else {
            throw RedisError(code: .server, message: "the profile of \(contactId) was written but does not read back")
        }
        return p
    }

    /// Applies many changes, in order per contact, in two round trips (the
    /// events of a batch), then the lookups of those that touch email or phone in one more.
    ///
    /// A large batch is merged in parts of at most `mergePart` contacts at once,
    /// all of a contact's changes in one part: one part's merge in the worker
    /// then overlaps another's round trips to Redis.
    public func apply(_ changes: [(contactId: String, change: ContactChange)], now: Int64) async throws {
        var parts: [[(contactId: String, change: ContactChange)]] = []
        var partOf: [String: Int] = [:]
        for c in changes {
            if let i = partOf[c.contactId] {
                parts[i].append(c)
                continue
            }
            if parts.isEmpty || partOf.count >= Self.mergePart * parts.count { parts.append([]) }
            partOf[c.contactId] = parts.count - 1
            parts[parts.count - 1].append(c)
        }
        let lookups: [LookupChange]
        if parts.count == 1 {
            lookups = try await merge(changes, now: now).lookups
        } else {
            lookups = try await withThrowingTaskGroup(of: [LookupChange].self) { group in
                for part in parts { group.addTask { try await merge(part, now: now).lookups } }
                return try await group.reduce(into: []) { $0 += $1 }
            }
        }
        // In the batch's order of each contact's last change, as one merge would
        // have them: of two contacts taking one address, the later holds it.
        var last: [String: Int] = [:]
        for (i, c) in changes.enumerated() { last[c.contactId] = i }
        try await updateLookups(lookups.sorted { last[$0.contactId, default: 0] < last[$1.contactId, default: 0] })
    }

    /// The most contacts one part of a batch merges (`apply`).
    static let mergePart = 250

    /// How many times a contact's merge is tried again when its profile changed
    /// between the read and the write. Each retry means another writer got
    /// through, so running out takes a contact written without pause by others.
    static let mergeAttempts = 32

    /// Reads the profiles, merges each contact's changes in order
    /// (`StoredProfile.apply`) and writes each profile once, only if it is still
    /// as read (`contact_put`); a contact whose profile changed meanwhile is
    /// read and merged again. Returns the profiles as written and the lookup
    /// changes to make (`updateLookups`), which the caller puts in order.
    ///
    /// A crash between two contacts' writes leaves some applied and not others;
    /// the batch is replayed, and every change is idempotent (sets, ids, `[time, tag]`).
    func merge(
        _ changes: [(contactId: String, change: ContactChange)], now: Int64
    ) async throws -> (written: [String: StoredProfile], lookups: [LookupChange]) {
        var order: [String] = []
        var byContact: [String: [ContactChange]] = [:]
        for (id, change) in changes {
            if byContact[id] == nil { order.append(id) }
            byContact[id, default: []].append(change)
        }
        var written: [String: StoredProfile] = [:]
        var lookups: [LookupChange] = []
        var pending = order
        var attempts = 0
        while !pending.isEmpty {
            attempts += 1
            guard attempts <= Self.mergeAttempts else {
                throw RedisError(code: .server, message: "the profile of \(pending[0]) changed \(Self.mergeAttempts) times while it was being written")
            }
            let reads = try await redis.pipeline(pending.map { ["GET", key($0)] })
            var merged: [(id: String, before: StoredProfile?, after: StoredProfile)] = []
            var calls: [(keys: [String], arguments: [[UInt8]])] = []
            for (id, reply) in zip(pending, reads) {
                let read: [UInt8]?
                switch reply {
                case .bulk(let bytes): read = bytes
                case .null: read = nil
                case .error(let message): throw RedisError(code: .server, message: "GET \(key(id)): \(message)")
                default: throw RedisError(code: .server, message: "GET \(key(id)) answered \(reply)")
                }
                let before = try read.map { try StoredProfile(decoding: $0, id: id) }
                var after = before ?? StoredProfile(id: id)
                for change in byContact[id] ?? [] { after.apply(change, contactId: id, now: now) }
                merged.append((id, before, after))
                calls.append(([key(id)], [read == nil ? [0x30] : [0x31], read ?? [], after.serialized(), Array(id.utf8)] + indexChanges(id, before, after)))
            }
            let replies = try await redis.evalMany(Self.putScript, byteCalls: calls)
            var conflicted: [String] = []
            for (m, reply) in zip(merged, replies) {
                switch reply {
                case .integer(1):
                    written[m.id] = m.after
                    if byContact[m.id]?.contains(where: \.touchesLookups) == true {
                        lookups.append(LookupChange(contactId: m.id, before: (m.before?.email, m.before?.phone), after: (m.after.email, m.after.phone)))
                    }
                case .integer(0): conflicted.append(m.id)
                case .error(let message): throw RedisError(code: .server, message: "contact_put of \(m.id): \(message)")
                default: throw RedisError(code: .server, message: "contact_put of \(m.id) answered \(reply)")
                }
            }
            pending = conflicted
        }
        return (written, lookups)
    }

    /// The shard's index changes from `before` to `after`, as `contact_put`
    /// takes them: `+key` to add the contact to a set, `-key` to take it off.
    func indexChanges(_ contactId: String, _ before: StoredProfile?, _ after: StoredProfile) -> [[UInt8]] {
        let old = before?.indexEntries ?? (days: [:], lists: []), new = after.indexEntries
        guard old.days != new.days || old.lists != new.lists else { return [] }
        let tag = Shard.hashTag(Shard.of(contactId, partitions: partitions))
        var out: [[UInt8]] = []
        func day(_ op: String, _ attribute: String, _ date: String) {
            out.append(Array("\(op)herald:idx:md:\(tag):\(attribute):\(date.dropFirst(5))".utf8))
            out.append(Array("\(op)herald:idx:date:\(tag):\(attribute):\(date)".utf8))
        }
        for (attribute, date) in old.days where new.days[attribute] != date { day("-", attribute, date) }
        for (attribute, date) in new.days where old.days[attribute] != date { day("+", attribute, date) }
        for list in old.lists.subtracting(new.lists) { out.append(Array("-herald:idx:list:\(tag):\(list)".utf8)) }
        for list in new.lists.subtracting(old.lists) { out.append(Array("+herald:idx:list:\(tag):\(list)".utf8)) }
        return out
    }

    /// Erases the profile. Returns whether it existed.
    @discardableResult
    public func delete(_ contactId: String) async throws -> Bool {
        (try await redis.eval(Self.deleteScript, keys: [key(contactId)], arguments: ["", contactId]).int ?? 0) > 0
    }

    /// Writes a merged profile if it is still as read, with its index changes.
    static let putScript = RedisScript(name: "contact_put", source: LuaSource.contactPut)

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

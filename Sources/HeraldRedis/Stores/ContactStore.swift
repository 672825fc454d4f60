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
        let (written, lookups, refused) = try await merge([(contactId, change)], now: now)
        guard refused.isEmpty else { throw ProfileTooLarge(contactId: contactId) }
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
    ///
    /// - Returns: the contacts with changes that were not applied, and how many:
    ///   they would have taken the profile past `ContactProfile.maxStoredBytes`.
    @discardableResult
    public func apply(_ changes: [(contactId: String, change: ContactChange)], now: Int64) async throws -> [String: Int] {
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
        var lookups: [LookupChange] = []
        var refused: [String: Int] = [:]
        if parts.count == 1 {
            (_, lookups, refused) = try await merge(changes, now: now)
        } else {
            (lookups, refused) = try await withThrowingTaskGroup(of: ([LookupChange], [String: Int]).self) { group in
                for part in parts {
                    group.addTask {
                        let m = try await merge(part, now: now)
                        return (m.lookups, m.refused)
                    }
                }
                return try await group.reduce(into: ([], [:])) { all, part in
                    all.0 += part.0
                    all.1.merge(part.1) { a, _ in a }
                }
            }
        }
        // In the batch's order of each contact's last change, as one merge would
        // have them: of two contacts taking one address, the later holds it.
        var last: [String: Int] = [:]
        for (i, c) in changes.enumerated() { last[c.contactId] = i }
        try await updateLookups(lookups.sorted { last[$0.contactId, default: 0] < last[$1.contactId, default: 0] })
        return refused
    }

    /// The most contacts one part of a batch merges (`apply`).
    static let mergePart = 250

    /// How many times a contact's merge is tried again when its profile changed
    /// between the read and the write. Each retry means another writer got
    /// through, so running out takes a contact written without pause by others.
    static let mergeAttempts = 32

    /// Reads the profiles, merges each contact's changes in order
    /// (`StoredProfile.apply`; a change that would take the profile past
    /// `ContactProfile.maxStoredBytes` is left out, `withinBound`) and writes each profile once, only if it is still
    /// as read (`contact_put`); a contact whose profile changed meanwhile is
    /// read and merged again. Returns the profiles as written and the lookup
    /// changes to make (`updateLookups`), which the caller puts in order.
    ///
    /// A crash between two contacts' writes leaves some applied and not others;
    /// the batch is replayed, and every change is idempotent (sets, ids, `[time, tag]`).
    func merge(
        _ changes: [(contactId: String, change: ContactChange)], now: Int64
    ) async throws -> (written: [String: StoredProfile], lookups: [LookupChange], refused: [String: Int]) {
        var order: [String] = []
        var byContact: [String: [ContactChange]] = [:]
        for (id, change) in changes {
            if byContact[id] == nil { order.append(id) }
            byContact[id, default: []].append(change)
        }
        var written: [String: StoredProfile] = [:]
        var lookups: [LookupChange] = []
        var refused: [String: Int] = [:]
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
                var bytes = after.serialized()
                if bytes.count > ContactProfile.maxStoredBytes && bytes.count > read?.count ?? 0 {
                    let kept = Self.withinBound(before, id: id, changes: byContact[id] ?? [], readBytes: read?.count ?? 0, now: now)
                    refused[id] = kept.refused  // set again, not added, when a conflict makes it merge again
                    guard let profile = kept.profile else { continue }  // nothing applied to a contact that has no profile
                    (after, bytes) = profile
                }
                merged.append((id, before, after))
                calls.append(([key(id)], [read == nil ? [0x30] : [0x31], read ?? [], bytes, Array(id.utf8)] + indexChanges(id, before, after)))
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
        return (written, lookups, refused)
    }

    /// The slow path of `merge`, for a profile the changes take past
    /// `ContactProfile.maxStoredBytes`: the changes one at a time, each kept only
    /// when it leaves the profile within the bound or no larger than before it.
    /// Returns the profile and its bytes (nil when nothing was applied to a
    /// contact without a profile) and how many changes were not applied.
    static func withinBound(
        _ before: StoredProfile?, id: String, changes: [ContactChange], readBytes: Int, now: Int64
    ) -> (profile: (StoredProfile, [UInt8])?, refused: Int) {
        var current = before ?? StoredProfile(id: id)
        var bytes: [UInt8]? = nil
        var size = readBytes
        var refused = 0
        for change in changes {
            var next = current
            next.apply(change, contactId: id, now: now)
            let written = next.serialized()
            if written.count <= ContactProfile.maxStoredBytes || written.count <= size {
                (current, bytes, size) = (next, written, written.count)
            } else {
                refused += 1
            }
        }
        if let bytes { return ((current, bytes), refused) }
        return (before.map { ($0, $0.serialized()) }, refused)
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

/// A change that would make the contact's stored profile larger than
/// `ContactProfile.maxStoredBytes`; it was not applied.
public struct ProfileTooLarge: Error, CustomStringConvertible {
    /// The contact.
    public let contactId: String
    /// What happened, naming the contact and the bound.
    public var description: String {
        "the change would make the profile of \(contactId) larger than \(ContactProfile.maxStoredBytes >> 10) KiB; nothing changed"
    }
}

import HeraldCore

/// Lists as things of their own: registered with a display name, counted,
/// renamed and deleted. A list's id is what profiles, events and campaigns name
/// (`lists`, `properties.list`, `list_subscribed: <id>`) and never changes; a
/// rename changes the display name only, so nothing that names the list breaks.
///
/// Registrations are one hash, `herald:{lists}:registry` (id → JSON); members
/// are the per-shard list indexes the profile scripts keep
/// (`herald:idx:list:{s}:<id>`), so a count is one `SCARD` per shard.
public struct ListStore: Sendable {
    let contacts: ContactStore

    /// The lists of `contacts`' address book.
    public init(contacts: ContactStore) { self.contacts = contacts }

    static let registry = "herald:{lists}:registry"

    func memberKey(_ list: String, shard: Int) -> String { "herald:idx:list:\(Shard.hashTag(shard)):\(list)" }

    /// A registered list.
    public struct Entry: Sendable, Equatable {
        /// The id profiles and campaigns name.
        public var id: String
        /// The name people see.
        public var name: String
        /// When it was created, UTC ms.
        public var createdAt: Int64
        /// Contacts subscribed now.
        public var members: Int

        /// The API form.
        public var json: JSONValue {
            ["id": .string(id), "name": .string(name), "created_at_ms": .int(createdAt), "members": .int(Int64(members))]
        }
    }

    /// Registers list `id` named `name`. Returns false when it exists already (nothing changed).
    public func create(id: String, name: String, now: Int64) async throws -> Bool {
        let value: JSONValue = ["name": .string(name), "created_at_ms": .int(now)]
        return try await contacts.redis.execute(["HSETNX", Self.registry, id, value.jsonString]).int == 1
    }

    /// Every registered list, by id, with its member count.
    public func all() async throws -> [Entry] {
        guard case .array(let flat) = try await contacts.redis.execute(["HGETALL", Self.registry]) else { return [] }
        var registered: [(String, JSONValue)] = []
        var i = 0
        while i + 1 < flat.count {
            if let id = flat[i].string, let text = flat[i + 1].string, let v = try? JSONValue.parse(string: text) { registered.append((id, v)) }
            i += 2
        }
        registered.sort { $0.0 < $1.0 }
        let counts = try await members(of: registered.map(\.0))
        return zip(registered, counts).map { r, n in
            Entry(
                id: r.0, name: r.1["name"]?.stringValue ?? r.0, createdAt: r.1["created_at_ms"].flatMap { if case .int(let t) = $0 { t } else { nil } } ?? 0,
                members: n)
        }
    }

    /// One list, or nil when it is not registered.
    public func get(_ id: String) async throws -> Entry? {
        guard case .bulk(let bytes) = try await contacts.redis.execute(["HGET", Self.registry, id]), let v = try? JSONValue.parse(bytes) else { return nil }
        let n = try await members(of: [id])[0]
        return Entry(
            id: id, name: v["name"]?.stringValue ?? id, createdAt: v["created_at_ms"].flatMap { if case .int(let t) = $0 { t } else { nil } } ?? 0, members: n)
    }

    /// Renames a registered list. Returns false when it is not registered.
    public func rename(_ id: String, to name: String) async throws -> Bool {
        guard var entry = try await get(id) else { return false }
        entry.name = name
        let value: JSONValue = ["name": .string(name), "created_at_ms": .int(entry.createdAt)]
        // HSET XX does not exist: a delete between the read and this write re-creates
        // the registration; the delete's member sweep is unaffected.
        try await contacts.redis.execute(["HSET", Self.registry, id, value.jsonString])
        return true
    }

    /// Subscribers of each list: one `SCARD` per list and shard, in one round trip.
    func members(of lists: [String]) async throws -> [Int] {
        let shards = contacts.partitions
        let replies = try await contacts.redis.pipeline(lists.flatMap { l in (0..<shards).map { ["SCARD", memberKey(l, shard: $0)] } })
        return lists.indices.map { i in replies[(i * shards)..<((i + 1) * shards)].reduce(0) { $0 + Int($1.int ?? 0) } }
    }

    /// Deletes the list: its registration, then its every membership, `batch`
    /// members per round trip. Sends no events: deleting a list is not each
    /// member unsubscribing. Safe to repeat after an interruption (whatever is
    /// left is swept again). Returns how many memberships were removed, or nil
    /// when the list was neither registered nor had members.
    public func delete(_ id: String, now: Int64, batch: Int = 500) async throws -> Int? {
        let registered = try await contacts.redis.execute(["HDEL", Self.registry, id]).int == 1
        var removed = 0
        for shard in 0..<contacts.partitions {
            let key = memberKey(id, shard: shard)
            var left = Int(try await contacts.redis.execute(["SCARD", key]).int ?? 0)
            while left > 0 {
                let after = try await contacts.redis.eval(Self.removeScript, keys: [key], arguments: [id, String(now), String(batch)])
                let remaining = Int(after.int ?? 0)
                removed += left - remaining
                left = remaining
            }
        }
        return registered || removed > 0 ? removed : nil
    }

    static let removeScript = RedisScript(name: "list_remove_members", source: LuaSource.listRemoveMembers)
}

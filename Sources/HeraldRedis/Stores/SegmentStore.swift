import HeraldCore

/// Saved segments: a named condition in the campaign language
/// (`herald:{segments}:registry`, id → JSON of `name`, `where`, times). The
/// condition is kept as its text and read with the campaign parser, so a
/// segment, an address-book filter and a campaign's audience read it alike.
public struct SegmentStore: Sendable {
    let redis: RedisPool

    /// The segments kept in `redis`.
    public init(redis: RedisPool) { self.redis = redis }

    static let registry = "herald:{segments}:registry"

    /// A saved segment.
    public struct Segment: Sendable, Equatable {
        /// Its id (what filters and campaigns name).
        public var id: String
        /// The name people see.
        public var name: String
        /// The condition, as YAML or JSON text.
        public var condition: String
        /// When it was created and last changed, UTC ms.
        public var createdAt: Int64, updatedAt: Int64

        /// A segment of these parts.
        public init(id: String, name: String, condition: String, createdAt: Int64, updatedAt: Int64) {
            self.id = id
            self.name = name
            self.condition = condition
            self.createdAt = createdAt
            self.updatedAt = updatedAt
        }

        /// The filter it stands for.
        /// - Throws: `ContactFilterError` if the stored condition no longer parses.
        public func filter() throws(ContactFilterError) -> ContactFilter { try ContactFilter(list: nil, tag: nil, where: condition) }

        /// The API form.
        public var json: JSONValue {
            [
                "id": .string(id), "name": .string(name), "where": .string(condition), "created_at_ms": .int(createdAt),
                "updated_at_ms": .int(updatedAt),
            ]
        }

        var stored: JSONValue {
            ["name": .string(name), "where": .string(condition), "created_at_ms": .int(createdAt), "updated_at_ms": .int(updatedAt)]
        }

        init?(id: String, stored: JSONValue) {
            guard let name = stored["name"]?.stringValue, let condition = stored["where"]?.stringValue else { return nil }
            func ms(_ k: String) -> Int64 { if case .int(let t)? = stored[k] { t } else { 0 } }
            self.init(id: id, name: name, condition: condition, createdAt: ms("created_at_ms"), updatedAt: ms("updated_at_ms"))
        }
    }

    /// Saves `segment`: creates it (false when `createOnly` and it exists) or replaces it.
    /// Either bumps the campaigns' revision, so workers resolve campaigns'
    /// `segment` conditions anew (`CampaignCatalog`).
    public func save(_ segment: Segment, createOnly: Bool) async throws -> Bool {
        let saved: Bool
        if createOnly {
            saved = try await redis.execute(["HSETNX", Self.registry, segment.id, segment.stored.jsonString]).int == 1
        } else {
            try await redis.execute(["HSET", Self.registry, segment.id, segment.stored.jsonString])
            saved = true
        }
        if saved { try await redis.execute(["INCR", CampaignStore.revision]) }
        return saved
    }

    /// One segment, or nil.
    public func get(_ id: String) async throws -> Segment? {
        guard case .bulk(let bytes) = try await redis.execute(["HGET", Self.registry, id]), let v = try? JSONValue.parse(bytes) else { return nil }
        return Segment(id: id, stored: v)
    }

    /// Every segment, by id.
    public func all() async throws -> [Segment] {
        guard case .array(let flat) = try await redis.execute(["HGETALL", Self.registry]) else { return [] }
        var out: [Segment] = []
        var i = 0
        while i + 1 < flat.count {
            if let id = flat[i].string, let text = flat[i + 1].string, let v = try? JSONValue.parse(string: text), let s = Segment(id: id, stored: v) {
                out.append(s)
            }
            i += 2
        }
        return out.sorted { $0.id < $1.id }
    }

    /// Deletes a segment; false when there was none.
    public func delete(_ id: String) async throws -> Bool {
        let deleted = try await redis.execute(["HDEL", Self.registry, id]).int == 1
        if deleted { try await redis.execute(["INCR", CampaignStore.revision]) }
        return deleted
    }
}

import HeraldCore

/// The address book: every contact, listed, counted and selected by a
/// `ContactFilter`. Each shard keeps its contact ids in `herald:idx:all:{s}` (a
/// sorted set kept by the profile scripts), so a listing pages through ids
/// with `ZRANGEBYLEX` and reads the profiles of a chunk in one round trip.
///
/// Scale: a filter is evaluated on the profiles themselves (the campaign
/// evaluator), so counting reads every profile once — in chunks of
/// `chunkSize`, shards in parallel (`concurrency` at a time), never one
/// round trip per contact. Counting everyone is one `ZCARD` per shard.
public struct AddressBook: Sendable {
    let contacts: ContactStore
    /// Ids read per round trip.
    let chunkSize: Int

    /// The address book of `contacts`' profiles.
    public init(contacts: ContactStore, chunkSize: Int = 500) {
        self.contacts = contacts
        self.chunkSize = max(1, chunkSize)
    }

    var partitions: Int { contacts.partitions }

    static func indexKey(_ shard: Int) -> String { "herald:idx:all:\(Shard.hashTag(shard))" }

    /// Up to `limit` ids of `shard` after `after`, in id order.
    func ids(shard: Int, after: String?, limit: Int) async throws -> [String] {
        let start = after.map { "(" + $0 } ?? "-"
        return (try await contacts.redis.execute(["ZRANGEBYLEX", Self.indexKey(shard), start, "+", "LIMIT", "0", String(limit)]).array ?? [])
            .compactMap(\.string)
    }

    /// One page of a listing.
    public struct Page: Sendable {
        /// The selected profiles, shard by shard, in id order within a shard.
        public var profiles: [ContactProfile]
        /// Where the next page starts; nil: the listing is complete.
        public var next: AddressBookCursor?
        /// Contacts read to make the page (selected or not).
        public var scanned: Int
    }

    /// The page of up to `limit` selected contacts from `cursor` (nil: the start).
    /// At most `scanLimit` contacts are read per page, so a rare filter answers
    /// in bounded time: the page may then hold fewer than `limit` (even none)
    /// with a cursor to go on — only a nil `next` ends the listing.
    public func page(_ filter: ContactFilter, from cursor: AddressBookCursor?, limit: Int, now: Int64, scanLimit: Int = 20_000) async throws -> Page {
        var page = Page(profiles: [], next: nil, scanned: 0)
        var at = cursor ?? AddressBookCursor(shard: 0, after: nil)
        while at.shard < partitions {
            let want = min(chunkSize, max(1, scanLimit - page.scanned))
            let ids = try await ids(shard: at.shard, after: at.after, limit: want)
            let profiles = try await contacts.get(many: ids)
            for id in ids {
                page.scanned += 1
                at.after = id
                if let p = profiles[id], filter.matches(p, now: now) {
                    page.profiles.append(p)
                    if page.profiles.count == limit {
                        page.next = at
                        return page
                    }
                }
            }
            if ids.count < want {
                at = AddressBookCursor(shard: at.shard + 1, after: nil)
            }
            if page.scanned >= scanLimit {
                page.next = at.shard < partitions ? at : nil
                return page
            }
        }
        return page
    }

    /// How many contacts the filter selects, shards read in parallel.
    public func count(_ filter: ContactFilter, now: Int64, concurrency: Int = 8) async throws -> Int {
        if filter.condition == nil {
            let replies = try await contacts.redis.pipeline((0..<partitions).map { ["ZCARD", Self.indexKey($0)] })
            return replies.reduce(0) { $0 + Int($1.int ?? 0) }
        }
        return try await withThrowingTaskGroup(of: Int.self) { group in
            var next = 0
            var total = 0
            func start() {
                guard next < partitions else { return }
                let shard = next
                next += 1
                group.addTask { try await count(filter, shard: shard, now: now) }
            }
            for _ in 0..<max(1, concurrency) { start() }
            while let n = try await group.next() {
                total += n
                start()
            }
            return total
        }
    }

    func count(_ filter: ContactFilter, shard: Int, now: Int64) async throws -> Int {
        var n = 0
        try await forEach(filter, shard: shard, now: now) { n += $0.count }
        return n
    }

    /// Calls `body` with each chunk of selected profiles, shard by shard, in id
    /// order: an export reads any number of contacts in bounded memory.
    public func forEach(_ filter: ContactFilter, now: Int64, _ body: ([ContactProfile]) async throws -> Void) async throws {
        for shard in 0..<partitions { try await forEach(filter, shard: shard, now: now, body) }
    }

    func forEach(_ filter: ContactFilter, shard: Int, now: Int64, _ body: ([ContactProfile]) async throws -> Void) async throws {
        var after: String? = nil
        while true {
            let ids = try await ids(shard: shard, after: after, limit: chunkSize)
            guard let last = ids.last else { return }
            let profiles = try await contacts.get(many: ids)
            let selected = ids.compactMap { profiles[$0] }.filter { filter.matches($0, now: now) }
            if !selected.isEmpty { try await body(selected) }
            if ids.count < chunkSize { return }
            after = last
        }
    }
}

extension AddressBook {
    /// Puts every stored profile in its shard's id index and in the email and
    /// phone lookups (`SCAN` over `herald:contact:*`, a batch per round trip),
    /// for profiles written before those existed. Idempotent: a profile already
    /// indexed stays as it is. The lookups' slots come from the store's
    /// partition count, which must be the deployment's.
    /// - Returns: how many profiles were seen.
    public func rebuildIndex() async throws -> Int {
        var cursor = "0"
        var seen = 0
        repeat {
            let reply = try await contacts.redis.execute(["SCAN", cursor, "MATCH", "herald:contact:*", "COUNT", "1000"])
            guard let parts = reply.array, parts.count == 2, let next = parts[0].string else {
                throw RedisError(code: .server, message: "SCAN returned an unexpected reply")
            }
            cursor = next
            var adds: [[String]] = []
            var ids: [String] = []
            for key in (parts[1].array ?? []).compactMap(\.string) {
                // herald:contact:{<shard>}:<id>; the id may hold any characters, the tag none of "}".
                guard let close = key.firstIndex(of: "}"), key[key.index(after: close)...].hasPrefix(":") else { continue }
                let tag = key[key.index(key.startIndex, offsetBy: "herald:contact:".count)...close]
                let id = String(key[key.index(close, offsetBy: 2)...])
                adds.append(["ZADD", "herald:idx:all:\(tag)", "0", id])
                ids.append(id)
            }
            for case .error(let message) in try await contacts.redis.pipeline(adds) { throw RedisError(code: .server, message: "ZADD: \(message)") }
            let profiles = try await contacts.get(many: ids)
            try await contacts.updateLookups(profiles.map { ContactStore.lookupChange($0.key, before: nil, after: $0.value) })
            seen += adds.count
        } while cursor != "0"
        return seen
    }
}

import HeraldCore
import HeraldRedis
import HeraldTestSupport
import Logging
import Testing

@Suite("Contact store on a real redis-server", .timeLimit(.minutes(1)))
struct ContactStoreTests {
    @Test("changes apply atomically, replays change nothing, PUT replaces but keeps purchases, DELETE erases")
    func lifecycle() async throws {
        let server = try await TestRedisServer()
        let pool = RedisPool(configuration: server.configuration, logger: Logger(label: "test"))
        let store = ContactStore(redis: pool, partitions: 24)
        let id = uniqueName("contact")
        var patch = try ContactInput.change(
            fromBody: try JSONValue.parse(string: #"{"email":"ada@example.com","attributes":{"gender":"female","score":3},"tags":["vip","new"]}"#),
            replace: false)
        var p = try await store.apply(patch, to: id, now: 10)
        #expect(p.email == "ada@example.com" && p.tags == ["vip", "new"] && p.attributes["score"] == .int(3))
        // Events: a purchase (twice: a replay), a removed tag, a list.
        let purchase = Event(id: "buy-1", type: "purchase", contactId: id, timestamp: 1000, receivedAt: 1000)
        let untag = Event(id: "e2", type: "tag_removed", contactId: id, timestamp: 1001, receivedAt: 1001, properties: ["tag": "new"])
        let sub = Event(id: "e3", type: "list_subscribed", contactId: id, timestamp: 1002, receivedAt: 1002, properties: ["list": "newsletter"])
        try await store.apply([purchase, purchase, untag, sub].map { ($0.contactId, ContactInput.change(for: $0)!) }, now: 20)
        p = try #require(try await store.get(id))
        #expect(p.purchases == ["buy-1": 1000])
        #expect(p.tags == ["vip"])
        #expect(p.lists == ["newsletter"])
        #expect(p.snapshot().purchases == [1000])
        // Attribute removal with null; unchanged attributes stay.
        patch = try ContactInput.change(fromBody: try JSONValue.parse(string: #"{"attributes":{"gender":null}}"#), replace: false)
        p = try await store.apply(patch, to: id, now: 30)
        #expect(p.attributes == ["score": .int(3)])
        // PUT replaces everything given and clears the rest, but keeps purchase history.
        let put = try ContactInput.change(fromBody: try JSONValue.parse(string: #"{"phone":"+33612345678"}"#), replace: true)
        p = try await store.apply(put, to: id, now: 40)
        #expect(p.email == nil && p.phone == "+33612345678" && p.tags.isEmpty && p.attributes.isEmpty)
        #expect(p.purchases.count == 1)
        #expect(try await store.delete(id))
        #expect(try await store.get(id) == nil)
        #expect(try await store.delete(id) == false)
        await pool.close()
        await server.stop()
    }

    @Test("a profile keeps its newest 1,000 purchases and 200 notes: older purchases are counted, not stored; replays of kept ones count once")
    func boundedHistory() async throws {
        let server = try await TestRedisServer()
        let pool = RedisPool(configuration: server.configuration, logger: Logger(label: "test"))
        let store = ContactStore(redis: pool, partitions: 24)
        let id = uniqueName("buyer")
        let cap = ContactProfile.purchaseCap
        var changes: [(contactId: String, change: ContactChange)] = []
        for n in 0..<(cap + 25) {
            var c = ContactChange()
            c.purchase = ("buy-\(n)", 1_000_000 + Int64(n))
            changes.append((id, c))
        }
        for n in 0..<(ContactProfile.noteCap + 7) {
            var c = ContactChange()
            c.note = ("note-\(n)", "note \(n)", 2_000_000 + Int64(n))
            changes.append((id, c))
        }
        try await store.apply(changes, now: 10)
        // A replay of the newest purchase changes nothing.
        try await store.apply([changes[cap + 24]], now: 11)
        let p = try #require(try await store.get(id))
        #expect(p.purchases.count == cap)
        #expect(p.olderPurchases == 25)
        #expect(p.purchaseCount == Int64(cap + 25))
        #expect(p.purchases["buy-0"] == nil && p.purchases["buy-24"] == nil && p.purchases["buy-25"] != nil)
        #expect(p.notes.count == ContactProfile.noteCap && p.notes["note-6"] == nil && p.notes["note-7"] != nil)
        #expect(p.json["purchases"]?["count"] == .int(Int64(cap + 25)))
        // Conditions count every purchase without a period.
        let snapshot = p.snapshot()
        #expect(ConditionEvaluator.evaluate(.purchases(within: nil, count: .eq(.int(Int64(cap + 25)))), contact: snapshot, event: [:], now: 3_000_000))
        // A PUT keeps the history and its count.
        let put = try ContactInput.change(fromBody: try JSONValue.parse(string: #"{"email":"b@example.com"}"#), replace: true)
        let after = try await store.apply(put, to: id, now: 12)
        #expect(after.purchaseCount == Int64(cap + 25))
        // The fast reader agrees.
        let raw = try #require(try await pool.execute(["GET", store.key(id)]).string)
        #expect(try ContactProfile(decoding: Array(raw.utf8)).olderPurchases == 25)
        await pool.close()
        await server.stop()
    }

    @Test(
        "a change that would take a profile past 1 MiB is not applied, in a batch (counted) or through the API's apply (an error); one that shrinks it is"
    )
    func sizeBound() async throws {
        let server = try await TestRedisServer()
        let store = ContactStore(redis: RedisPool(configuration: server.configuration, logger: Logger(label: "test")), partitions: 4)
        let id = uniqueName("big")
        func attribute(_ name: String, _ value: JSONValue) -> ContactChange {
            var c = ContactChange()
            c.attributes = [name: value]
            return c
        }
        let big = JSONValue.string(String(repeating: "x", count: 600_000))
        // One event's worth fits; the second does not and is left out; the third is small and applies.
        let refused = try await store.apply([(id, attribute("a", big)), (id, attribute("b", big)), (id, attribute("c", 1))], now: 10)
        #expect(refused == [id: 1])
        var p = try #require(try await store.get(id))
        #expect(p.attributes["a"] == big && p.attributes["b"] == nil && p.attributes["c"] == 1)
        await #expect(throws: ProfileTooLarge.self) { try await store.apply(attribute("b", big), to: id, now: 20) }
        // Removing the big value shrinks it: applied.
        p = try await store.apply(attribute("a", .null), to: id, now: 30)
        #expect(p.attributes == ["c": 1])
        // A new contact whose only change is too large gets no profile at all.
        let other = uniqueName("huge")
        let huge = JSONValue.string(String(repeating: "y", count: 1_100_000))
        #expect(try await store.apply([(other, attribute("a", huge))], now: 40) == [other: 1])
        #expect(try await store.get(other) == nil)
        await server.stop()
    }

    @Test("numbers keep every digit: a 17-digit attribute and a millisecond time read back exactly (the Lua merge's cjson rounded to 14 digits)")
    func exactNumbers() async throws {
        let server = try await TestRedisServer()
        let pool = RedisPool(configuration: server.configuration, logger: Logger(label: "test"))
        let store = ContactStore(redis: pool, partitions: 24)
        let id = uniqueName("digits")
        var change = ContactChange()
        change.attributes = ["loyalty_id": .int(12_345_678_901_234_567), "ratio": .double(0.1)]
        change.purchase = ("p-1", 1_796_641_619_297)
        try await store.apply(change, to: id, now: 1_796_641_619_298)
        // A second change merges into the stored form: what was read is written back as it was.
        var tag = ContactChange()
        tag.addTags = ["vip"]
        let p = try await store.apply(tag, to: id, now: 1_796_641_619_299)
        #expect(p.attributes["loyalty_id"] == .int(12_345_678_901_234_567))
        #expect(p.attributes["ratio"] == .double(0.1))
        #expect(p.purchases["p-1"] == 1_796_641_619_297 && p.updatedAt == 1_796_641_619_299)
        await pool.close()
        await server.stop()
    }

    @Test("writers racing on one contact lose nothing: a profile changed between the read and the write is read and merged again")
    func racingWriters() async throws {
        let server = try await TestRedisServer()
        let id = uniqueName("raced")
        // Four pools (as four workers would be) and single changes and batches interleaved.
        var pools: [RedisPool] = []
        for _ in 0..<4 { pools.append(RedisPool(configuration: server.configuration, logger: Logger(label: "test"))) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (w, pool) in pools.enumerated() {
                let store = ContactStore(redis: pool, partitions: 24)
                group.addTask {
                    for n in 0..<40 {
                        var c = ContactChange()
                        c.addTags = ["w\(w)-\(n)"]
                        if n.isMultiple(of: 2) {
                            try await store.apply(c, to: id, now: Int64(n))
                        } else {
                            var d = ContactChange()
                            d.addLists = ["l\(w)-\(n)"]
                            try await store.apply([(id, c), (id, d)], now: Int64(n))
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let store = ContactStore(redis: pools[0], partitions: 24)
        let p = try #require(try await store.get(id))
        #expect(p.tags.count == 160)
        #expect(p.lists.count == 80)
        #expect(try await store.contacts(shard: Shard.of(id, partitions: 24), list: "l3-39") == [id])
        for pool in pools { await pool.close() }
        await server.stop()
    }

    @Test("date attributes and list membership are indexed per shard, and follow changes and deletion")
    func indexes() async throws {
        let server = try await TestRedisServer()
        let pool = RedisPool(configuration: server.configuration, logger: Logger(label: "test"))
        let store = ContactStore(redis: pool, partitions: 24)
        let id = uniqueName("born")
        let shard = Shard.of(id, partitions: 24)
        try await store.apply(
            try ContactInput.change(
                fromBody: try JSONValue.parse(
                    string: #"{"attributes":{"birthday":"1990-11-23","contract_end":"2027-01-31T00:00:00Z","nickname":"2020-ish"},"lists":["newsletter"]}"#),
                replace: false), to: id, now: 1)
        #expect(try await store.contacts(shard: shard, attribute: "birthday", monthDay: "11-23") == [id])
        #expect(try await store.contacts(shard: shard, attribute: "contract_end", date: "2027-01-31") == [id])
        #expect(try await store.contacts(shard: shard, list: "newsletter") == [id])
        // A changed date moves; a removed list leaves.
        var change = try ContactInput.change(fromBody: try JSONValue.parse(string: #"{"attributes":{"birthday":"1990-12-01"}}"#), replace: false)
        change.removeLists = ["newsletter"]
        try await store.apply(change, to: id, now: 2)
        #expect(try await store.contacts(shard: shard, attribute: "birthday", monthDay: "11-23").isEmpty)
        #expect(try await store.contacts(shard: shard, attribute: "birthday", monthDay: "12-01") == [id])
        #expect(try await store.contacts(shard: shard, list: "newsletter").isEmpty)
        #expect(try await store.delete(id))
        #expect(try await store.contacts(shard: shard, attribute: "birthday", monthDay: "12-01").isEmpty)
        #expect(try await store.contacts(shard: shard, attribute: "contract_end", date: "2027-01-31").isEmpty)
        await pool.close()
        await server.stop()
    }
}

@Suite("Email and phone lookups on a real redis-server", .timeLimit(.minutes(1)))
struct ContactLookupTests {
    func change(_ json: String, replace: Bool = false) throws -> ContactChange {
        try ContactInput.change(fromBody: try JSONValue.parse(string: json), replace: replace)
    }

    @Test("two contacts take one address in a batch merged in parts at once: the later in the batch holds it")
    func lastTakerInParts() async throws {
        let server = try await TestRedisServer()
        let pool = RedisPool(configuration: server.configuration, logger: Logger(label: "test"))
        let store = ContactStore(redis: pool, partitions: 24)
        var batch: [(contactId: String, change: ContactChange)] = [("early", try change(#"{"email":"shared@example.com"}"#))]
        for n in 0..<600 { batch.append(("filler-\(n)", try change(#"{"attributes":{"n":1}}"#))) }
        batch.append(("late", try change(#"{"email":"shared@example.com"}"#)))
        try await store.apply(batch, now: 7)
        #expect(try await store.find(.email, ["shared@example.com"]).mapValues(\.id) == ["shared@example.com": "late"])
        await pool.close()
        await server.stop()
    }

    @Test("a contact is found by email (any case) and phone; a changed, taken or erased address stops naming it; a stale entry is a miss; reindex rebuilds")
    func lookups() async throws {
        let server = try await TestRedisServer()
        let pool = RedisPool(configuration: server.configuration, logger: Logger(label: "test"))
        let store = ContactStore(redis: pool, partitions: 24)
        try await store.apply(try change(#"{"email":"Ada@Example.com","phone":"+420601000001"}"#), to: "ada", now: 1)
        // Through the batch path too, as the profile applier applies events.
        try await store.apply([("bob", try change(#"{"email":"bob@example.com"}"#))], now: 2)
        var found = try await store.find(.email, ["ada@example.com", "bob@example.com", "nobody@example.com"])
        #expect(found.mapValues(\.id) == ["ada@example.com": "ada", "bob@example.com": "bob"])
        #expect(try await store.find(.phone, ["+420601000001"]).mapValues(\.id) == ["+420601000001": "ada"])
        // Ada changes her address: the old one no longer finds her.
        try await store.apply(try change(#"{"email":"ada@new.example"}"#), to: "ada", now: 3)
        found = try await store.find(.email, ["ada@example.com", "ada@new.example"])
        #expect(found.mapValues(\.id) == ["ada@new.example": "ada"])
        // Bob takes Ada's new address too: the entry names the last to take it; Ada's change away from it keeps Bob's.
        try await store.apply(try change(#"{"email":"ADA@new.example"}"#), to: "bob", now: 4)
        #expect(try await store.find(.email, ["ada@new.example"]).mapValues(\.id) == ["ada@new.example": "bob"])
        try await store.apply(try change(#"{"email":"ada@third.example"}"#), to: "ada", now: 5)
        #expect(try await store.find(.email, ["ada@new.example"]).mapValues(\.id) == ["ada@new.example": "bob"])
        // A PUT without a phone clears it, and the lookup with it.
        try await store.apply(try change(#"{"email":"ada@third.example"}"#, replace: true), to: "ada", now: 6)
        #expect(try await store.find(.phone, ["+420601000001"]).isEmpty)
        // A stale entry (a crash between the profile and the lookup) is checked against the profile.
        _ = try await pool.execute(["HSET", store.lookupKey(.email, "ghost@example.com"), "ghost@example.com", "ada"])
        #expect(try await store.find(.email, ["ghost@example.com"]).isEmpty)
        // Erasure takes the contact off every lookup.
        let erasure = ContactErasure(
            contacts: store, journeys: JourneyStore(redis: pool, partitions: 24), messages: MessageStore(redis: pool, partitions: 24),
            alerts: AlertStore(redis: pool, partitions: 24), limiter: RateLimiter(redis: pool))
        #expect(try await erasure.erase("bob", now: 7))
        #expect(try await store.find(.email, ["ada@new.example"]).isEmpty)
        #expect(try await pool.execute(["HGET", store.lookupKey(.email, "ada@new.example"), "ada@new.example"]) == .null)
        // Lookups lost (written before they existed): reindex rebuilds them from the profiles.
        for key in (try await pool.execute(["KEYS", "herald:idx:email:*"]).array ?? []).compactMap(\.string) { _ = try await pool.execute(["DEL", key]) }
        #expect(try await store.find(.email, ["ada@third.example"]).isEmpty)
        #expect(try await AddressBook(contacts: store).rebuildIndex() == 1)
        #expect(try await store.find(.email, ["ada@third.example"]).mapValues(\.id) == ["ada@third.example": "ada"])
        await server.stop()
    }
}

@Suite("Activity and purchase amounts in stored profiles, on a real redis-server", .timeLimit(.minutes(1)))
struct ContactActivityStoreTests {
    @Test("events are kept per key, newest 20 and at most 40 keys; a replay adds nothing; a PUT keeps them; dropped purchases keep their sum")
    func activityAndTotals() async throws {
        let server = try await TestRedisServer()
        let pool = RedisPool(configuration: server.configuration, logger: Logger(label: "test"))
        let store = ContactStore(redis: pool, partitions: 24)
        func event(_ type: String, _ at: Int64, _ properties: [String: JSONValue] = [:]) -> (String, ContactChange) {
            ("c", ContactInput.change(for: Event(id: "\(type)-\(at)", type: type, contactId: "c", timestamp: at, receivedAt: at, properties: properties))!)
        }
        // 25 visits, out of order, one replayed: the newest 20 are kept, ascending.
        var visits = (1...25).map { event("page_visited", Int64($0) * 1000) }.shuffled()
        visits.append(visits[0])
        try await store.apply(visits, now: 1)
        var p = try #require(try await store.get("c"))
        #expect(p.activity["page_visited"] == (6...25).map { Int64($0) * 1000 })
        // Two events of one millisecond (a batch without timestamps) both count; a replay of either does not.
        let sameTime = [
            event("cart_abandoned", 30_000),
            ("c", ContactInput.change(for: Event(id: "other", type: "cart_abandoned", contactId: "c", timestamp: 30_000, receivedAt: 1))!),
        ]
        try await store.apply(sameTime + sameTime, now: 1)
        #expect(try await store.get("c")?.activity["cart_abandoned"] == [30_000, 30_000])
        try await store.apply([event("email_opened", 500, ["campaign": "welcome", "category": "promo"])], now: 2)
        p = try #require(try await store.get("c"))
        #expect(p.activity["email_opened|campaign:welcome"] == [500] && p.activity["email_opened|category:promo"] == [500])
        // A PUT replaces fields and keeps history.
        try await store.apply(try ContactInput.change(fromBody: ["email": "c@example.com"], replace: true), to: "c", now: 3)
        p = try #require(try await store.get("c"))
        #expect(p.activity.count == 5 && p.email == "c@example.com")
        // 40 more kinds, newer: the keys whose newest event is oldest go (the opens at 500, then visits at 25,000, then carts).
        try await store.apply((0..<40).map { event("kind\($0)", 100_000 + Int64($0)) }, now: 4)
        p = try #require(try await store.get("c"))
        #expect(p.activity.count == ContactActivity.keysCap && p.activity["page_visited"] == nil && p.activity["kind0"] == [100_000])
        // Purchases with amounts; beyond the cap, the dropped ones' amounts are summed.
        let cap = ContactProfile.purchaseCap
        try await store.apply((0..<(cap + 2)).map { event("purchase", Int64($0) + 1, ["total": .double(Double($0) + 0.5)]) }, now: 5)
        p = try #require(try await store.get("c"))
        #expect(p.purchases.count == cap && p.purchaseTotals.count == cap && p.olderPurchaseTotal == 0.5 + 1.5)
        let snapshot = p.snapshot()
        let everything = (0..<(cap + 2)).reduce(0.0) { $0 + Double($1) + 0.5 }
        #expect(ConditionEvaluator.evaluate(.purchaseTotal(within: nil, amount: .eq(.double(everything))), contact: snapshot, event: [:], now: 10_000))
        #expect(p.json["purchases"]?["total"] == .double(everything))
        await server.stop()
    }
}

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

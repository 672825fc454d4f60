import HeraldCore
import HeraldRedis
import HeraldTestSupport
import Logging
import Testing

@testable import HeraldIngest

@Suite("The broadcast planner on a real redis-server", .serialized, .timeLimit(.minutes(2)))
struct BroadcastPlannerTests {
    @Test(
        "a planner that loses its lease mid-addition stops after the chunk it wrote; the next goes on from the cursor; every member once, however often a chunk is written"
    )
    func resumesFromCursor() async throws {
        let server = try await TestRedisServer()
        let redis = RedisPool(configuration: server.configuration, logger: Logger(label: "test"))
        let contacts = ContactStore(redis: redis, partitions: 4)
        var vip = ContactChange()
        vip.addTags = ["vip"]
        let members = (0..<57).map { "m\($0)" }
        try await contacts.apply(members.map { ($0, vip) } + [("outsider", ContactChange())], now: 1_000)
        let store = BroadcastStore(redis: redis, partitions: 4)
        let b = try Broadcast(json: ["id": "b1", "channel": "sms", "template": "t", "audience": ["tag": "vip"]], now: 0)
        #expect(try await store.create(b, now: 1_000))
        func planner(_ name: String) -> BroadcastPlanner {
            var p = BroadcastPlanner(
                store: store, book: AddressBook(contacts: contacts), segments: SegmentStore(redis: redis), messages: MessageStore(redis: redis, partitions: 4),
                logger: Logger(label: name))
            p.chunk = 10
            return p
        }
        // Another process holds the lease: this planner writes one chunk, then finds the lease is not its own.
        _ = try await redis.execute(["SET", "herald:{campaigns}:bc-lease:b1", "someone-else", "PX", "60000"])
        try await planner("a").work("b1")
        let stopped = try #require(try await store.get("b1"))
        #expect(stopped.added == 10 && stopped.adding != nil && stopped.cursor != nil, "one chunk written, the cursor past it: \(stopped)")
        #expect(try await store.counts(b) == [.initial: 10])
        // The lease runs out (taken away here, not waited for: a loaded machine must not decide); the next planner goes on from the cursor.
        _ = try await redis.execute(["DEL", "herald:{campaigns}:bc-lease:b1"])
        try await planner("b").pass()
        let done = try #require(try await store.get("b1"))
        #expect(done.added == 57 && done.adding == nil, "\(done)")
        #expect(try await store.counts(b) == [.initial: 57])
        // The same audience again, from the start: nobody twice.
        #expect(try await store.queueAddition(b.audience, to: "b1"))
        try await planner("c").pass()
        #expect(try await store.get("b1")?.added == 57)
        #expect(try await store.counts(b) == [.initial: 57])
        // A start: the planner's release pass makes every recipient due.
        #expect(try await store.apply(.start, to: "b1", now: 2_000) == .moved(.running))
        try await planner("c").pass()
        #expect(try await MessageStore(redis: redis, partitions: 4).waiting(shards: [0, 1, 2, 3]) == 57)
        await server.stop()
    }

    @Test("a running broadcast is released a window at a time: no more while the senders have not taken what is due, more as messages end")
    func window() async throws {
        let server = try await TestRedisServer()
        let redis = RedisPool(configuration: server.configuration, logger: Logger(label: "test"))
        let contacts = ContactStore(redis: redis, partitions: 2)
        var vip = ContactChange()
        vip.addTags = ["vip"]
        try await contacts.apply((0..<50).map { ("w\($0)", vip) }, now: 1_000)
        let store = BroadcastStore(redis: redis, partitions: 2)
        let messages = MessageStore(redis: redis, partitions: 2)
        let b = try Broadcast(json: ["id": "win", "channel": "sms", "template": "t", "audience": ["tag": "vip"]], now: 0)
        #expect(try await store.create(b, now: 1_000))
        var planner = BroadcastPlanner(
            store: store, book: AddressBook(contacts: contacts), segments: SegmentStore(redis: redis), messages: messages, logger: Logger(label: "p"))
        planner.minimumWindow = 10
        planner.windowSeconds = 0  // the window stays at its minimum whatever pace this fast test shows
        try await planner.pass()
        let draftBacklog = try await store.dueBacklog(now: Int64.max / 2)
        #expect(try await store.counts(b) == [.initial: 50] && draftBacklog == 0, "a draft releases nothing")
        #expect(try await store.apply(.start, to: "win", now: 2_000) == .moved(.running))
        try await planner.pass()
        let now = Int64.max / 2
        #expect(try await store.dueBacklog(now: now) == 10, "one window (5 a shard)")
        try await planner.pass()
        #expect(try await store.dueBacklog(now: now) == 10, "nothing taken: nothing more")
        // A sender takes and sends those 10.
        let due = try await messages.due(shards: [0, 1], now: now, limit: 100).requests
        for r in due {
            _ = try await messages.claim(r, now: 3_000, lease: .seconds(60))
            _ = try await messages.record(r, .sent, now: 3_100)
        }
        #expect(try await store.dueBacklog(now: now) == 0)
        try await planner.pass()
        #expect(try await store.dueBacklog(now: now) == 10, "the next window")
        #expect(try await store.counts(b) == [.initial: 40, .sent: 10])
        await server.stop()
    }

    @Test(
        "an audience that needs a list is read from the list's index: its members (and of them those the rest selects), each once, going on from its cursor after a lost lease"
    )
    func listAudience() async throws {
        let server = try await TestRedisServer()
        let redis = RedisPool(configuration: server.configuration, logger: Logger(label: "test"))
        let contacts = ContactStore(redis: redis, partitions: 4)
        var changes: [(contactId: String, change: ContactChange)] = []
        for i in 0..<120 {
            var c = ContactChange()
            if i % 2 == 0 { c.addLists = ["news"] }
            if i % 3 == 0 { c.addTags = ["vip"] }
            changes.append(("l\(i)", c))
        }
        try await contacts.apply(changes, now: 1_000)
        let store = BroadcastStore(redis: redis, partitions: 4)
        func planner() -> BroadcastPlanner {
            var p = BroadcastPlanner(
                store: store, book: AddressBook(contacts: contacts), segments: SegmentStore(redis: redis), messages: MessageStore(redis: redis, partitions: 4),
                logger: Logger(label: "p"))
            p.chunk = 7
            return p
        }
        let all = try Broadcast(json: ["id": "news", "channel": "sms", "template": "t", "audience": ["list": "news"]], now: 0)
        let vip = try Broadcast(json: ["id": "newsvip", "channel": "sms", "template": "t", "audience": ["list": "news", "tag": "vip"]], now: 0)
        #expect(AddressBook.requiredList(try #require(try all.audience.filter())) == "news")
        #expect(AddressBook.requiredList(try #require(try vip.audience.filter())) == "news")
        #expect(try await store.create(all, now: 1_000))
        #expect(try await store.create(vip, now: 1_000))
        // The first planner loses its lease after one chunk of the first broadcast.
        _ = try await redis.execute(["SET", "herald:{campaigns}:bc-lease:news", "someone-else", "PX", "60000"])
        try await planner().work("news")
        let stopped = try #require(try await store.get("news"))
        #expect(stopped.cursor?.hasPrefix("set:") == true && stopped.adding != nil, "\(stopped)")
        _ = try await redis.execute(["DEL", "herald:{campaigns}:bc-lease:news"])
        try await planner().pass()
        #expect(try await store.get("news")?.adding == nil)
        #expect(try await store.get("newsvip")?.adding == nil)
        #expect(try await store.counts(all) == [.initial: 60], "the list's 60 members")
        #expect(try await store.counts(vip) == [.initial: 20], "those of them with the tag: every 6th contact")
        await server.stop()
    }
}

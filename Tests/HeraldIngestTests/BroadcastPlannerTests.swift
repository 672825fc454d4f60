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
        _ = try await redis.execute(["SET", "herald:{campaigns}:bc-lease:b1", "someone-else", "PX", "300"])
        try await planner("a").work("b1")
        let stopped = try #require(try await store.get("b1"))
        #expect(stopped.added == 10 && stopped.adding != nil && stopped.cursor != nil, "one chunk written, the cursor past it: \(stopped)")
        #expect(try await store.counts(b) == [.initial: 10])
        // The lease runs out; the next planner goes on from the cursor.
        try await Task.sleep(for: .milliseconds(400))
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
}

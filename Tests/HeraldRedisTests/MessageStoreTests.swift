import HeraldCore
import HeraldRedis
import HeraldTestSupport
import Logging
import Testing

@Suite("Message states on a real redis-server", .serialized, .timeLimit(.minutes(2)))
struct MessageStoreTests {
    @Test("a message's record expires after the retention once it ended, not while it waits")
    func retention() async throws {
        let server = try await TestRedisServer()
        let redis = RedisPool(configuration: server.configuration, logger: Logger(label: "test"))
        let store = MessageStore(redis: redis, partitions: 4, retention: .seconds(100))
        let waiting = SendRequest(id: uniqueName("w"), contactId: "c1", campaignId: "k", channel: "webhook", template: "http://x", category: "promo")
        let ended = SendRequest(id: uniqueName("e"), contactId: "c2", campaignId: "k", channel: "webhook", template: "http://x", category: "promo")
        func ttl(_ r: SendRequest) async throws -> Int64 {
            try await redis.execute(["TTL", "herald:m:\(Shard.hashTag(Shard.of(r.contactId, partitions: 4))):\(r.id)"]).int ?? -3
        }
        #expect(try await store.claim(waiting, now: 1_000, lease: .seconds(60)) == .claimed(attempt: 1, deferrals: 0, firstSeenMs: 1_000))
        try await store.record(waiting, .retryScheduled, reason: "HTTP 503", next: 5_000, now: 1_100)
        #expect(try await ttl(waiting) == -1, "a message that will be tried again is kept")
        _ = try await store.claim(ended, now: 1_000, lease: .seconds(60))
        #expect(try await ttl(ended) == -1, "a claimed message is kept")
        try await store.record(ended, .sent, now: 1_200)
        let left = try await ttl(ended)
        #expect(left > 90 && left <= 100, "TTL \(left)")
        #expect(try await store.message(contactId: ended.contactId, id: ended.id)?["state"] == "sent")
    }
}

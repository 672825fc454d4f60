import HeraldCore
import HeraldRedis
import HeraldTestSupport
import Logging
import Testing

@Suite("Broadcasts on a real redis-server", .serialized, .timeLimit(.minutes(2)))
struct BroadcastStoreTests {
    func broadcast(_ id: String, channel: String = "whatsapp") throws -> Broadcast {
        try Broadcast(json: ["id": .string(id), "channel": .string(channel), "template": "order-update", "audience": ["tag": "vip"]], now: 0)
    }

    @Test("states move only as the actions allow, each move tells the workers (the revision), a start asks for a release and a cancel for a cancel pass")
    func transitions() async throws {
        let server = try await TestRedisServer()
        let redis = RedisPool(configuration: server.configuration, logger: Logger(label: "test"))
        let store = BroadcastStore(redis: redis, partitions: 4)
        let b = try broadcast("spring")
        #expect(try await store.create(b, now: 1_000))
        #expect(try await store.create(b, now: 2_000) == false, "an id is taken once")
        let created = try #require(try await store.get("spring"))
        #expect(created.state == .draft && created.adding == b.audience && created.createdAt == 1_000)
        #expect(try await store.workItems() == ["spring"], "the planner adds its audience")
        let revision = try await redis.execute(["GET", "herald:{campaigns}:revision"]).int ?? 0
        #expect(try await store.apply(.pause, to: "spring", now: 3_000) == .refused(.draft))
        #expect(try await store.apply(.resume, to: "spring", now: 3_000) == .refused(.draft))
        #expect(try await store.apply(.start, to: "spring", now: 3_000) == .moved(.running))
        #expect(try await store.get("spring")?.releasePending == true)
        #expect((try await redis.execute(["GET", "herald:{campaigns}:revision"]).int ?? 0) == revision + 1)
        #expect(try await BroadcastStore.states(in: redis) == ["spring": .running])
        #expect(try await store.apply(.start, to: "spring", now: 3_000) == .refused(.running))
        #expect(try await store.apply(.pause, to: "spring", now: 4_000) == .moved(.paused))
        #expect(try await store.apply(.resume, to: "spring", now: 5_000) == .moved(.running))
        #expect(try await store.apply(.cancel, to: "spring", now: 6_000, reason: "wrong template") == .moved(.cancelled))
        let cancelled = try #require(try await store.get("spring"))
        #expect(cancelled.cancelPending && cancelled.reason == "wrong template" && cancelled.updatedAt == 6_000)
        #expect(try await store.apply(.resume, to: "spring", now: 7_000) == .refused(.cancelled), "cancelled is final")
        #expect(try await store.apply(.start, to: "nope", now: 7_000) == .unknown)
        // One addition at a time: while the first is queued, of two more at once neither is taken; once done, one of two is.
        #expect(try await store.queueAddition(.segment("x"), to: "spring") == false, "the creation's audience is still being added")
        try await store.saveProgress("spring", cursor: nil, added: 0)
        async let first = store.queueAddition(.segment("a"), to: "spring")
        async let second = store.queueAddition(.segment("b"), to: "spring")
        let taken = [try await first, try await second]
        #expect(taken.filter { $0 }.count == 1, "\(taken)")
        #expect(try await store.get("spring")?.adding == (taken[0] ? .segment("a") : .segment("b")))
        // A start time ahead schedules it; the planner starts it when it comes.
        var later = try broadcast("later")
        later.startAt = 100_000
        #expect(try await store.create(later, now: 1_000))
        #expect(try await store.apply(.start, to: "later", now: 2_000) == .moved(.scheduled))
        #expect(try await store.apply(.pause, to: "later", now: 3_000) == .moved(.paused))
        #expect(try await store.apply(.resume, to: "later", now: 200_000) == .moved(.running), "resumed after its start time: runs")
        await server.stop()
    }

    @Test("a recipient added twice is one message in initial; only a running broadcast's are due; a release makes due only those still waiting")
    func recipients() async throws {
        let server = try await TestRedisServer()
        let redis = RedisPool(configuration: server.configuration, logger: Logger(label: "test"))
        let store = BroadcastStore(redis: redis, partitions: 4)
        let messages = MessageStore(redis: redis, partitions: 4)
        let b = try broadcast("r1")
        #expect(try await store.create(b, now: 500))
        let contacts = (0..<50).map { "c\($0)" }
        let added = try await store.addRecipients(b, contacts + ["c1", "c2"], release: .none, now: 1_000)
        #expect(Set(added) == Set(contacts.map(b.sendId)), "each contact once, duplicates in one call too")
        #expect(try await store.addRecipients(b, ["c3", "c50"], release: .none, now: 2_000) == [b.sendId("c50")])
        #expect(try await store.counts(b) == [.initial: 51])
        #expect(try await messages.waiting(shards: [0, 1, 2, 3]) == 0, "a draft's recipients are not due")
        let record = try #require(try await messages.message(contactId: "c7", id: b.sendId("c7")))
        #expect(record["state"] == "initial" && record["campaign"] == "broadcast:r1" && record["channel"] == "whatsapp")
        #expect(record["request"] == nil, "an audience's recipient holds no copy of the broadcast's request")
        // Every recipient is in its shard's index, once.
        var listed: [String] = []
        for shard in 0..<4 {
            var after: String?
            while true {
                let ids = try await store.recipientIds("r1", shard: shard, after: after, limit: 7)
                listed += ids
                if ids.count < 7 { break }
                after = ids.last
            }
        }
        #expect(listed.count == 51 && Set(listed).count == 51)
        // One claimed (in flight), one done: a release leaves both alone.
        let c0 = b.request(for: "c0", now: 0), c1 = b.request(for: "c1", now: 0)
        #expect(try await messages.claim(c0, now: 3_000, lease: .seconds(60)) == .claimed(attempt: 1, deferrals: 0, firstSeenMs: 1_000))
        _ = try await messages.claim(c1, now: 3_000, lease: .seconds(60))
        _ = try await messages.record(c1, .sent, now: 3_100)
        var released = 0
        for shard in 0..<4 {
            let ids = try await store.recipientIds("r1", shard: shard, after: nil, limit: 100)
            released += try await store.release(shard: shard, sendIds: ids, now: 4_000)
        }
        #expect(released == 49)
        let pass = try await messages.due(shards: [0, 1, 2, 3], now: 4_000, limit: 100)
        #expect(pass.requests.count == 49, "c0 is due only when its lease ends")
        let c7 = try #require(pass.requests.first { $0.contactId == "c7" })
        #expect(c7 == b.request(for: "c7", now: 1_000), "the request made from the definition is the one the broadcast would have stored")
        #expect(pass.texts.count == 49 && pass.texts.allSatisfy { (try? SendRequest(decoding: Array($0.utf8))) != nil })
        // Added while running: due at once.
        _ = try await store.addRecipients(b, ["late"], release: .all, now: 5_000)
        #expect(try await messages.due(shards: [0, 1, 2, 3], now: 5_000, limit: 100).requests.contains { $0.contactId == "late" })
        let counts = try await store.counts(b)
        #expect(counts[.initial] == 50 && counts[.inProgress] == 1 && counts[.sent] == 1, "\(counts)")
        await server.stop()
    }

    @Test("a recipient with values of its own (a CSV row) keeps its request; one made from the definition needs the broadcast to exist")
    func ownRequests() async throws {
        let server = try await TestRedisServer()
        let redis = RedisPool(configuration: server.configuration, logger: Logger(label: "test"))
        let store = BroadcastStore(redis: redis, partitions: 2)
        let messages = MessageStore(redis: redis, partitions: 2)
        let b = try broadcast("csv")
        #expect(try await store.create(b, now: 500))
        var row = b.request(for: "r", now: 1_000)
        row.event = ["phone": "+420601000001", "name": "Jana"]
        _ = try await store.addRecipients(b, requests: [row], release: .all, now: 1_000)
        let stored = try #require(try await messages.message(contactId: "r", id: b.sendId("r"))?["request"])
        #expect(try SendRequest(decoding: Array(stored.utf8)) == row)
        #expect(try await messages.due(shards: [0, 1], now: 1_000, limit: 10).requests == [row])
        // Recipients of a broadcast whose definition is gone cannot be sent: they leave the retry set.
        let orphan = try broadcast("gone")
        _ = try await store.addRecipients(orphan, ["x", "y"], release: .all, now: 1_000)
        #expect(try await messages.waiting(shards: [0, 1]) == 3)
        #expect(try await messages.due(shards: [0, 1], now: 1_000, limit: 10).requests.map(\.contactId) == ["r"])
        #expect(try await messages.waiting(shards: [0, 1]) == 1)
        await server.stop()
    }

    @Test("retry failed reopens error and sending_failed recipients, due now when running, never one whose outcome is unknown")
    func reopen() async throws {
        let server = try await TestRedisServer()
        let redis = RedisPool(configuration: server.configuration, logger: Logger(label: "test"))
        let store = BroadcastStore(redis: redis, partitions: 1)
        let messages = MessageStore(redis: redis, partitions: 1, retention: .seconds(100))
        let b = try broadcast("rf")
        let ids = try await store.addRecipients(b, ["ok", "bad", "unknown", "tired"], release: .none, now: 1_000)
        #expect(ids.count == 4)
        for c in ["ok", "bad", "unknown", "tired"] { _ = try await messages.claim(b.request(for: c, now: 0), now: 2_000, lease: .seconds(60)) }
        _ = try await messages.record(b.request(for: "ok", now: 0), .sent, now: 3_000)
        _ = try await messages.record(b.request(for: "bad", now: 0), .sendingFailed, reason: "WhatsApp 131026: message undeliverable", now: 3_000)
        _ = try await messages.record(b.request(for: "unknown", now: 0), .sendingFailed, reason: "outcome unknown, not retried: timeout", now: 3_000)
        _ = try await messages.record(b.request(for: "tired", now: 0), .error, reason: "3 attempts failed", now: 3_000)
        #expect(try await store.counts(b) == [.sent: 1, .sendingFailed: 2, .error: 1])
        let all = try await store.recipientIds("rf", shard: 0, after: nil, limit: 10)
        #expect(try await store.reopenFailed(b, shard: 0, sendIds: all, release: true, now: 4_000) == 2)
        #expect(try await store.counts(b) == [.sent: 1, .sendingFailed: 1, .retryScheduled: 2])
        let bad = try #require(try await messages.message(contactId: "bad", id: b.sendId("bad")))
        #expect(bad["state"] == "retry_scheduled" && bad["attempts"] == "0" && bad["reason"] == "retried by an administrator")
        #expect(try await redis.execute(["TTL", "herald:m:{0}:\(b.sendId("bad"))"]).int == -1, "kept again: it waits")
        #expect(Set(try await messages.due(shards: [0], now: 4_000, limit: 10).requests.map(\.contactId)) == ["bad", "tired"])
        #expect(
            try await messages.claim(b.request(for: "bad", now: 0), now: 5_000, lease: .seconds(60)) == .claimed(attempt: 1, deferrals: 0, firstSeenMs: 1_000))
        #expect(try await store.reopenFailed(b, shard: 0, sendIds: all, release: true, now: 6_000) == 0, "nothing failed is left but the unknown")
        await server.stop()
    }

    @Test("the window releases a shard's recipients in id order past its cursor; a recipient added behind a cursor is released at once, one after it waits")
    func window() async throws {
        let server = try await TestRedisServer()
        let redis = RedisPool(configuration: server.configuration, logger: Logger(label: "test"))
        let store = BroadcastStore(redis: redis, partitions: 1)
        let messages = MessageStore(redis: redis, partitions: 1)
        let b = try broadcast("w")
        #expect(try await store.create(b, now: 0))
        _ = try await store.addRecipients(b, (10..<30).map { "c\($0)" }, release: .none, now: 1_000)
        #expect(try await store.releaseNext("w", shard: 0, after: nil, limit: 5, now: 2_000) == 5)
        let cursors = try #require(try await store.get("w")).cursors
        #expect(cursors == [0: b.sendId("c14")])
        #expect(try await store.dueBacklog(now: 2_000) == 5)
        #expect(try await store.releaseNext("w", shard: 0, after: cursors[0], limit: 5, now: 2_000) == 5)
        let moved = try #require(try await store.get("w")).cursors
        let backlog = try await store.dueBacklog(now: 2_000)
        #expect(moved == [0: b.sendId("c19")] && backlog == 10)
        // c0 sorts before the cursor (released at once); c99 after it (waits its turn).
        let added = try await store.addRecipients(b, ["c0", "c99"], release: .through(moved), now: 3_000)
        #expect(added.count == 2)
        let due = Set(try await messages.due(shards: [0], now: 3_000, limit: 100).requests.map(\.contactId))
        #expect(due.contains("c0") && !due.contains("c99") && due.count == 11, "\(due)")
        #expect(try await store.releaseNext("w", shard: 0, after: moved[0], limit: 100, now: 4_000) == 11, "c20…c29 and c99")
        #expect(try await store.releaseNext("w", shard: 0, after: b.sendId("c99"), limit: 100, now: 4_000) == 0, "none left")
        await server.stop()
    }
}

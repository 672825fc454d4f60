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
        let waiting = SendRequest(id: uniqueName("w"), contactId: "c1", campaignId: "k", channel: .webhook, template: "http://x", category: "promo")
        let ended = SendRequest(id: uniqueName("e"), contactId: "c2", campaignId: "k", channel: .webhook, template: "http://x", category: "promo")
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

    @Test("a claim whose answer was lost is its claimant's again when it asks for it back, with the same attempt; anyone else finds it busy, then unknown")
    func unansweredClaim() async throws {
        let server = try await TestRedisServer()
        let redis = RedisPool(configuration: server.configuration, logger: Logger(label: "test"))
        let store = MessageStore(redis: redis, partitions: 4, retention: .seconds(100))
        let r = SendRequest(id: uniqueName("u"), contactId: "c9", campaignId: "k", channel: .webhook, template: "http://x", category: "promo")
        let lease = Duration.seconds(60)
        // The claim runs; its answer is taken to be lost (Redis died before replying).
        _ = try await store.claim(many: [r], now: 1_000, lease: lease, claimant: "sender-a")
        // Asked for as any claim, it is busy: the claimant might be mid-call.
        #expect(try await store.claim(many: [r], now: 2_000, lease: lease, claimant: "sender-a") == [.busy])
        // Another process cannot take it back, even if it says it lost an answer.
        #expect(try await store.claim(many: [r], now: 2_000, lease: lease, claimant: "sender-b", resuming: [true]) == [.busy])
        // Nor can a caller without a name.
        #expect(try await store.claim(many: [r], now: 2_000, lease: lease, resuming: [true]) == [.busy])
        // Its claimant, knowing it made no call, gets it back: same attempt, same first sight.
        #expect(
            try await store.claim(many: [r], now: 3_000, lease: lease, claimant: "sender-a", resuming: [true]) == [
                .claimed(attempt: 1, deferrals: 0, firstSeenMs: 1_000)
            ])
        // The lease was renewed from then: busy until 63,000, then unknown as before.
        #expect(try await store.claim(many: [r], now: 62_000, lease: lease, claimant: "sender-b") == [.busy])
        #expect(try await store.claim(many: [r], now: 63_001, lease: lease, claimant: "sender-b") == [.outcomeUnknown])
        #expect(try await store.message(contactId: r.contactId, id: r.id)?["state"] == "sending_failed")
    }

    @Test("an unanswered claim is made due at once for its claimant only, and only while it is still in progress")
    func resumeUnanswered() async throws {
        let server = try await TestRedisServer()
        let redis = RedisPool(configuration: server.configuration, logger: Logger(label: "test"))
        let store = MessageStore(redis: redis, partitions: 4)
        let r = SendRequest(id: uniqueName("r"), contactId: "c3", campaignId: "k", channel: .webhook, template: "http://x", category: "promo")
        let shard = Shard.of(r.contactId, partitions: 4)
        _ = try await store.claim(many: [r], now: 1_000, lease: .seconds(60), claimant: "sender-a")
        // In the retry set at the lease's end: not due at 2,000.
        #expect(try await store.due(shards: [shard], now: 2_000, limit: 10).requests.isEmpty)
        #expect(try await store.resume([(shard, r.id)], claimant: "sender-b", now: 2_000) == 0, "another claimant's")
        #expect(try await store.due(shards: [shard], now: 2_000, limit: 10).requests.isEmpty)
        #expect(try await store.resume([(shard, r.id)], claimant: "sender-a", now: 2_000) == 1)
        #expect(try await store.due(shards: [shard], now: 2_000, limit: 10).requests == [r])
        // Once recorded, nothing to resume.
        try await store.record(r, .sent, now: 2_100)
        #expect(try await store.resume([(shard, r.id)], claimant: "sender-a", now: 2_200) == 0)
    }

    @Test("a claim keeps the request's text as given; without one, the request serialized")
    func requestText() async throws {
        let server = try await TestRedisServer()
        let redis = RedisPool(configuration: server.configuration, logger: Logger(label: "test"))
        let store = MessageStore(redis: redis, partitions: 4)
        let given = SendRequest(id: uniqueName("t"), contactId: "c1", campaignId: "k", channel: .webhook, template: "http://x", category: "promo")
        let other = SendRequest(id: uniqueName("s"), contactId: "c2", campaignId: "k", channel: .webhook, template: "http://x", category: "promo")
        // As a herald.sends record may come: its own key order, a field this version does not know.
        let text = #"{"template":"http://x","id":"\#(given.id)","contact_id":"c1","campaign_id":"k","channel":"webhook","category":"promo","x_newer":1}"#
        #expect(try SendRequest(json: JSONValue.parse(string: text)) == given)
        _ = try await store.claim(many: [given, other], texts: [text, nil], now: 1_000, lease: .seconds(60))
        #expect(try await store.message(contactId: "c1", id: given.id)?["request"] == text)
        #expect(try await store.message(contactId: "c2", id: other.id)?["request"] == other.json.jsonString)
        // A retry reads it back as the same request.
        try await store.record(given, .retryScheduled, reason: "HTTP 503", next: 2_000, now: 1_100)
        let due = try await store.due(shards: [Shard.of("c1", partitions: 4)], now: 2_000, limit: 10)
        #expect(due.requests == [given] && due.texts == [text])
    }

    @Test("a provider id recorded with its state maps back to the message, in the same round trip as the state")
    func providerIdMapping() async throws {
        let server = try await TestRedisServer()
        let redis = RedisPool(configuration: server.configuration, logger: Logger(label: "test"))
        let store = MessageStore(redis: redis, partitions: 4)
        let requests = (0..<3).map {
            SendRequest(id: uniqueName("p\($0)"), contactId: "c\($0)", campaignId: "k", channel: .whatsapp, template: "t", category: "promo")
        }
        _ = try await store.claim(many: requests, now: 1_000, lease: .seconds(60))
        try await store.record(
            SendRequest(id: uniqueName("loads"), contactId: "c9", campaignId: "k", channel: .whatsapp, template: "t"), .cancelled, now: 1_100)
        let before = redis.roundTrips
        let after = try await store.record(
            many: [
                .init(requests[0], .sent, mayCreate: false, providerId: "wamid.A"), .init(requests[1], .sent, mayCreate: false, providerId: "wamid.B"),
                .init(requests[2], .sendingFailed, reason: "HTTP 400", mayCreate: false),
            ], now: 1_200)
        #expect(after == [.sent, .sent, .sendingFailed])
        #expect(redis.roundTrips - before == 1)
        #expect(try await store.message(contactId: "c1", id: requests[1].id)?["provider_id"] == "wamid.B")
        let ttl = try await redis.execute(["TTL", "herald:pmid:wamid.A"]).int ?? -3
        #expect(ttl > 2_591_000 && ttl <= 2_592_000, "TTL \(ttl)")
        // A status callback finds its message by the provider's id.
        let status = try await store.applyStatus(providerId: "wamid.A", .delivered, now: 1_300)
        #expect(status?.request == requests[0] && status?.state == .delivered && status?.changed == true)
        #expect(try await store.applyStatus(providerId: "wamid.unknown", .delivered, now: 1_300) == nil)
    }

    @Test("a status that names its message (a MessageReference) needs no mapping: none is written, the status applies, even before the sender records sent")
    func statusByReference() async throws {
        let server = try await TestRedisServer()
        let redis = RedisPool(configuration: server.configuration, logger: Logger(label: "test"))
        let store = MessageStore(redis: redis, partitions: 4)
        let requests = (0..<2).map {
            SendRequest(id: uniqueName("r\($0)"), contactId: "c\($0)", campaignId: "k", channel: .whatsapp, template: "t", category: "promo")
        }
        _ = try await store.claim(many: requests, now: 1_000, lease: .seconds(60))
        // Recorded with callbacks that name the message: no herald:pmid key.
        _ = try await store.record(many: [.init(requests[0], .sent, mayCreate: false, providerId: "wamid.R0", mapProviderId: false)], now: 1_100)
        #expect(try await redis.execute(["EXISTS", "herald:pmid:wamid.R0"]).int == 0)
        let read = try await store.applyStatus(providerId: "wamid.R0", reference: MessageReference(requests[0]), .read, now: 1_200)
        #expect(read?.request == requests[0] && read?.state == .read && read?.changed == true)
        #expect(try await store.applyStatus(providerId: "wamid.R0", reference: MessageReference(requests[0]), .delivered, now: 1_300)?.changed == false)
        // Its callback came before the sender's record: the state moves on from
        // in_progress with the provider's id; the sender's later `sent` changes nothing.
        let early = try await store.applyStatus(providerId: "wamid.R1", reference: MessageReference(requests[1]), .delivered, now: 1_150)
        #expect(early?.state == .delivered)
        let late = try await store.record(many: [.init(requests[1], .sent, mayCreate: false, providerId: "wamid.R1", mapProviderId: false)], now: 1_160)
        #expect(late == [.delivered])
        #expect(try await store.message(contactId: "c1", id: requests[1].id)?["provider_id"] == "wamid.R1")
        #expect(try await redis.execute(["KEYS", "herald:pmid:*"]).array?.isEmpty == true)
        // A reference to no message.
        #expect(try await store.applyStatus(providerId: "wamid.X", reference: MessageReference(contactId: "c0", sendId: "nope"), .read, now: 1_400) == nil)
    }

    @Test("the daily cap in the claim: the third message of a cap of 2 is cancelled, never claimed; a retry of an admitted one is not counted again")
    func capInClaim() async throws {
        let server = try await TestRedisServer()
        let redis = RedisPool(configuration: server.configuration, logger: Logger(label: "test"))
        let store = MessageStore(redis: redis, partitions: 4)
        let contact = uniqueName("capped")
        let requests = (1...3).map {
            SendRequest(id: "\(contact):\($0)", contactId: contact, campaignId: "k", channel: .webhook, template: "http://x", category: "promo")
        }
        let cap = MessageStore.ClaimCap(day: "2026-11-23", limit: 2, reason: "over the daily cap of 2")
        let claims = try await store.claim(many: requests, caps: [cap, cap, cap], now: 1_000, lease: .seconds(60))
        #expect(claims == [.claimed(attempt: 1, deferrals: 0, firstSeenMs: 1_000), .claimed(attempt: 1, deferrals: 0, firstSeenMs: 1_000), .overCap])
        // The day's set expires (two days after its first message), however many joined it.
        let ttl = try await redis.execute(["TTL", "herald:cap:\(Shard.hashTag(Shard.of(contact, partitions: 4))):\(contact):2026-11-23"]).int ?? -3
        #expect(ttl > 172_000 && ttl <= 172_800, "TTL \(ttl)")
        let third = try await store.message(contactId: contact, id: requests[2].id)
        #expect(third?["state"] == "cancelled" && third?["reason"] == "over the daily cap of 2", "\(third ?? [:])")
        // The first is retried later the same day: admitted again, not counted again.
        try await store.record(requests[0], .retryScheduled, reason: "HTTP 503", next: 2_000, now: 1_100)
        #expect(
            try await store.claim(many: [requests[0]], caps: [cap], now: 2_000, lease: .seconds(60)) == [.claimed(attempt: 2, deferrals: 0, firstSeenMs: 1_000)]
        )
        // Another day has its own count.
        let tomorrow = SendRequest(id: "\(contact):4", contactId: contact, campaignId: "k", channel: .webhook, template: "http://x", category: "promo")
        #expect(
            try await store.claim(many: [tomorrow], caps: [.init(day: "2026-11-24", limit: 2, reason: "")], now: 3_000, lease: .seconds(60)).first
                == .claimed(attempt: 1, deferrals: 0, firstSeenMs: 3_000))
    }

    @Test(
        "claims and records of many messages over several shards, more than one call's worth per shard, each answered in its own place; the calls go per shard")
    func manyPerShard() async throws {
        let server = try await TestRedisServer()
        let redis = RedisPool(configuration: server.configuration, logger: Logger(label: "test"))
        let store = MessageStore(redis: redis, partitions: 4)
        let run = uniqueName("many")
        // 300 messages over 40 contacts (all 4 shards, about 75 each: two calls per shard),
        // interleaved with ones already claimed (busy) and already sent (final).
        let requests = (0..<300).map {
            SendRequest(id: "\(run):\($0)", contactId: "\(run)-c\($0 % 40)", campaignId: "k", channel: .webhook, template: "http://x", category: "promo")
        }
        let busy = requests.enumerated().filter { $0.offset % 7 == 3 }.map(\.element)
        let sent = requests.enumerated().filter { $0.offset % 11 == 5 && $0.offset % 7 != 3 }.map(\.element)
        _ = try await store.claim(many: busy + sent, now: 1_000, lease: .seconds(60))
        let recorded = try await store.record(many: sent.map { .init($0, .sent, mayCreate: false) }, now: 1_050)
        #expect(recorded == Array(repeating: .sent, count: sent.count))
        #expect(Set(requests.map { Shard.of($0.contactId, partitions: 4) }).count == 4)

        let claims = try await store.claim(many: requests, now: 1_100, lease: .seconds(60))
        let busyIds = Set(busy.map(\.id)), sentIds = Set(sent.map(\.id))
        for (r, claim) in zip(requests, claims) {
            let expected: MessageStore.Claim =
                busyIds.contains(r.id) ? .busy : sentIds.contains(r.id) ? .done(.sent) : .claimed(attempt: 1, deferrals: 0, firstSeenMs: 1_100)
            #expect(claim == expected, "\(r.id)")
        }
        // Each message's own outcome lands on its own record.
        let fresh = requests.filter { !busyIds.contains($0.id) && !sentIds.contains($0.id) }
        let transitions = fresh.enumerated().map { i, r in
            i % 2 == 0
                ? MessageStore.Transition(r, .sent, mayCreate: false)
                : .init(r, .retryScheduled, reason: "HTTP 503 #\(i)", next: 9_000 + Int64(i), mayCreate: false)
        }
        #expect(try await store.record(many: transitions, now: 1_200) == transitions.map(\.state))
        for (i, r) in fresh.enumerated() {
            let record = try await store.message(contactId: r.contactId, id: r.id)
            #expect(record?["state"] == transitions[i].state.rawValue)
            if i % 2 == 1 { #expect(record?["reason"] == "HTTP 503 #\(i)" && record?["next_ms"] == String(9_000 + i)) }
        }
        // Per shard, not per message: a call per 64 messages of a shard.
        let perShard = Dictionary(grouping: requests) { Shard.of($0.contactId, partitions: 4) }.values.map(\.count)
        let calls = perShard.map { ($0 + 63) / 64 }.reduce(0, +)
        #expect(perShard.contains { $0 > 64 } && calls < 10)
        _ = try await redis.execute(["CONFIG", "RESETSTAT"])
        _ = try await store.claim(many: requests, now: 1_300, lease: .seconds(60))
        let stats = try await redis.execute(["INFO", "commandstats"]).string ?? ""
        #expect(stats.contains("cmdstat_evalsha:calls=\(calls),"), "\(stats)")
    }

    @Test("what a call's messages share — the shard's retry set, the campaign's counts — is written once per call, with the same result as message by message")
    func sharedWritesOncePerCall() async throws {
        let server = try await TestRedisServer()
        let redis = RedisPool(configuration: server.configuration, logger: Logger(label: "test"))
        let store = MessageStore(redis: redis, partitions: 1)
        let campaign = uniqueName("k")
        let requests = (0..<64).map {
            SendRequest(id: "\(campaign):\($0)", contactId: "c\($0)", campaignId: campaign, channel: .webhook, template: "http://x", category: "promo")
        }
        func calls(_ command: String) async throws -> Int {
            let stats = try await redis.execute(["INFO", "commandstats"]).string ?? ""
            guard let line = stats.split(whereSeparator: \.isNewline).first(where: { $0.hasPrefix("cmdstat_\(command):calls=") }) else { return 0 }
            return Int(line.dropFirst("cmdstat_\(command):calls=".count).prefix { $0.isNumber }) ?? -1
        }
        _ = try await redis.execute(["CONFIG", "RESETSTAT"])
        _ = try await store.claim(many: requests, now: 1_000, lease: .seconds(60))
        // 64 contact indexes get their ZADD; the retry set one, for all leases.
        #expect(try await calls("zadd") == 65)
        #expect(try await calls("hincrby") == 1)
        #expect(try await store.states(campaign: campaign) == ["in_progress": 64])
        #expect(try await redis.execute(["ZCOUNT", "herald:retry:\(Shard.hashTag(0))", "61000", "61000"]).int == 64)

        _ = try await redis.execute(["CONFIG", "RESETSTAT"])
        let transitions = requests.enumerated().map { i, r in
            i < 60 ? MessageStore.Transition(r, .sent, mayCreate: false) : .init(r, .retryScheduled, reason: "HTTP 503", next: 5_000, mayCreate: false)
        }
        _ = try await store.record(many: transitions, now: 1_200)
        // One ZREM for the 60 sent, one ZADD for the 4 retries, an HINCRBY per state.
        #expect(try await calls("zrem") == 1)
        #expect(try await calls("zadd") == 1)
        #expect(try await calls("hincrby") == 3)
        #expect(try await store.states(campaign: campaign) == ["sent": 60, "retry_scheduled": 4])
        let retrySet = try await redis.execute(["ZRANGE", "herald:retry:\(Shard.hashTag(0))", "0", "-1", "WITHSCORES"]).array?.compactMap(\.string) ?? []
        #expect(retrySet == (60..<64).flatMap { ["\(campaign):\($0)", "5000"] }, "\(retrySet)")
    }

    @Test("one call mixing campaigns, channels, caps, states and deferrals claims and records exactly as one-message calls do")
    func mixedShapes() async throws {
        // The same work on two servers: all at once (one call per script, as the
        // messages share a shard), and message by message.
        let servers = [try await TestRedisServer(), try await TestRedisServer()]
        let pools = servers.map { RedisPool(configuration: $0.configuration, logger: Logger(label: "test")) }
        let stores = pools.map { MessageStore(redis: $0, partitions: 1) }
        let run = uniqueName("mix")
        let campaigns = ["\(run)-a", "\(run)-b"]
        let channels: [Channel] = [.webhook, .whatsapp]
        let caps: [MessageStore.ClaimCap?] = [
            nil, .init(day: "2026-11-24", limit: 2, reason: "over the cap of 2"), .init(day: "2026-11-24", limit: 3, reason: "over the cap of 3"),
        ]
        // 24 messages over 4 contacts: every pairing of campaign, channel and cap, a contact's cap crossed.
        let requests = (0..<24).map { i in
            SendRequest(
                id: "\(run):\(i)", contactId: "\(run)-c\(i % 4)", campaignId: campaigns[i % 2], channel: channels[(i / 2) % 2], template: "t", category: "promo"
            )
        }
        let messageCaps = requests.indices.map { caps[($0 / 4) % 3] }
        // Some already waiting for a retry (due, and not yet due) or busy.
        let earlier = requests.indices.filter { $0 % 5 == 0 }
        for store in stores {
            _ = try await store.claim(many: earlier.map { requests[$0] }, now: 500, lease: .seconds(1))
            _ = try await store.record(
                many: earlier.map { i in .init(requests[i], .retryScheduled, reason: "HTTP 503", next: i % 10 == 0 ? 900 : 5_000, mayCreate: false) }, now: 600)
        }
        let together = try await stores[0].claim(many: requests, caps: messageCaps, now: 1_000, lease: .seconds(60))
        var alone: [MessageStore.Claim] = []
        for (r, cap) in zip(requests, messageCaps) { alone += try await stores[1].claim(many: [r], caps: [cap], now: 1_000, lease: .seconds(60)) }
        #expect(together == alone)
        #expect(Set(together.map { "\($0)".prefix(7) }).count >= 3, "claimed, capped and not due all occur: \(together)")

        // Outcomes of every kind for the claimed ones, in one call.
        let claimed = zip(requests, together).filter { if case .claimed = $0.1 { true } else { false } }.map(\.0)
        let transitions = claimed.enumerated().map { i, r -> MessageStore.Transition in
            switch i % 4 {
            case 0: .init(r, .sent, mayCreate: false, providerId: "p-\(r.id)")
            case 1: .init(r, .retryScheduled, reason: "HTTP 503", next: 8_000 + Int64(i), mayCreate: false)
            case 2: .init(r, .retryScheduled, reason: "throttled", next: 9_000, deferred: true, mayCreate: false)
            default: .init(r, .sendingFailed, reason: "HTTP 400 \(i)", mayCreate: false)
            }
        }
        #expect(Set(transitions.map(\.state)).count == 3 && claimed.count >= 8)
        let after = try await stores[0].record(many: transitions, now: 1_200)
        var afterAlone: [MessageState] = []
        for t in transitions { afterAlone += try await stores[1].record(many: [t], now: 1_200) }
        #expect(after == afterAlone && after == transitions.map(\.state))

        // Every record, the campaigns' counts, the retry set and the caps' sets agree.
        for r in requests {
            let records = try await stores.asyncMap { try await $0.message(contactId: r.contactId, id: r.id) }
            #expect(records[0] == records[1], "\(r.id)")
        }
        for campaign in campaigns {
            let counts = try await stores.asyncMap { try await $0.states(campaign: campaign) }
            #expect(counts[0] == counts[1] && !counts[0].isEmpty, "\(campaign): \(counts)")
        }
        let retrySets = try await pools.asyncMap { try await $0.execute(["ZRANGE", "herald:retry:\(Shard.hashTag(0))", "0", "-1", "WITHSCORES"]) }
        #expect(retrySets[0] == retrySets[1])
        for contact in Set(requests.map(\.contactId)) {
            let members = try await pools.asyncMap {
                try await $0.execute(["SMEMBERS", "herald:cap:\(Shard.hashTag(0)):\(contact):2026-11-24"]).array?.compactMap(\.string).sorted() ?? []
            }
            #expect(members[0] == members[1], "\(contact)")
        }
    }

    @Test("due(shards:) gathers what is due across shards (a record that is gone is dropped) and when each shard falls due next")
    func dueAcrossShards() async throws {
        let server = try await TestRedisServer()
        let redis = RedisPool(configuration: server.configuration, logger: Logger(label: "test"))
        let store = MessageStore(redis: redis, partitions: 4)
        // Contacts spread over the four shards, each with one parked message.
        let requests = (0..<12).map {
            SendRequest(id: uniqueName("p\($0)"), contactId: "contact-\($0)", campaignId: "k", channel: .webhook, template: "http://x", category: "promo")
        }
        #expect(Set(requests.map { Shard.of($0.contactId, partitions: 4) }).count == 4)
        let nexts = requests.indices.map { Int64(2_000 + 100 * $0) }
        _ = try await store.record(many: zip(requests, nexts).map { .init($0, .retryScheduled, reason: "throttled", next: $1) }, now: 1_000)
        let all = [0, 1, 2, 3]
        func firstOf(_ shard: Int, after now: Int64) -> Int64? {
            zip(requests, nexts).filter { Shard.of($0.0.contactId, partitions: 4) == shard && $0.1 > now }.map(\.1).min()
        }
        let early = try await store.due(shards: all, now: 1_999, limit: 100)
        #expect(early.requests.isEmpty)
        #expect(early.next == Dictionary(uniqueKeysWithValues: all.map { ($0, firstOf($0, after: 1_999)!) }), "\(early.next)")
        let due = try await store.due(shards: all, now: 2_450, limit: 100)
        #expect(Set(due.requests.map(\.id)) == Set(requests[0..<5].map(\.id)))
        #expect(due.next == Dictionary(uniqueKeysWithValues: all.compactMap { s in firstOf(s, after: 2_450).map { (s, $0) } }), "\(due.next)")
        // Only the shards asked about are read; one that had more due than the
        // limit is due again at once.
        let shardOfFirst = Shard.of(requests[0].contactId, partitions: 4)
        let dueInShard = zip(requests, nexts).filter { Shard.of($0.0.contactId, partitions: 4) == shardOfFirst && $0.1 <= 3_200 }.count
        #expect(dueInShard >= 2)
        let limited = try await store.due(shards: [shardOfFirst], now: 3_200, limit: 1)
        #expect(limited.requests.count == 1 && limited.next == [shardOfFirst: 3_200], "\(limited)")
        // A message whose record vanished is taken out of its retry set, not returned.
        let t = Shard.hashTag(Shard.of(requests[0].contactId, partitions: 4))
        _ = try await redis.execute(["DEL", "herald:m:\(t):\(requests[0].id)"])
        #expect(try await store.due(shards: all, now: 2_450, limit: 100).requests.count == 4)
        #expect(try await redis.execute(["ZSCORE", "herald:retry:\(t)", requests[0].id]).string == nil)
        #expect(try await store.due(shards: [], now: 2_450, limit: 100).next.isEmpty)
    }
}

extension Array {
    /// `map` with an async transform, one element after the other.
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for element in self { out.append(try await transform(element)) }
        return out
    }
}

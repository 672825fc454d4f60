import Foundation
import HeraldCore
import HeraldRedis
import HeraldTestSupport
import Logging
import Testing

@Suite("Rate limits on a real redis-server", .serialized, .timeLimit(.minutes(2)))
struct RateLimiterTests {
    let logger = Logger(label: "test.limits")

    @Test("a rate of 100/s lets at most 100 through in any second and at most 10 in any tenth of it, across four clients")
    func spreadAndExact() async throws {
        let server = try await TestRedisServer()
        // Four pools: four clients, as four sender processes would be.
        let limiters = (0..<4).map { _ in RateLimiter(redis: RedisPool(configuration: server.configuration, logger: logger)) }
        let rate = RateLimiter.Rate(name: uniqueName("hook"), limit: 100, window: .seconds(1))
        // A backlog of 400 messages asks every 5 ms for 2 seconds (clock passed in, as senders do).
        var passed: [Int64] = []
        var pending = (0..<400).map { "m\($0)" }
        // The clock the limiter is given never falls behind the wall clock: its
        // windows expire in Redis after twice their length in real time (as they
        // should, the senders' clocks being real), and a loaded machine took 15 s
        // for these 400 steps, so with a clock stepping 5 ms at a time the windows
        // were gone mid-test and too many passed (seen on CI, 2026-12-07).
        let start = Int64(Date().timeIntervalSince1970 * 1000)
        for step in 0..<400 {
            let now = max(start + Int64(step) * 5, Int64(Date().timeIntervalSince1970 * 1000))
            let asking = pending
            let decisions = try await withThrowingTaskGroup(of: (String, RateLimiter.Decision).self) { group in
                for (i, member) in asking.prefix(40).enumerated() {
                    group.addTask { (member, try await limiters[i % 4].acquire([rate], member: member, now: now)) }
                }
                return try await group.reduce(into: [(String, RateLimiter.Decision)]()) { $0.append($1) }
            }
            for (member, decision) in decisions where decision == .allowed {
                passed.append(now)
                pending.removeAll { $0 == member }
            }
        }
        passed.sort()
        func worst(_ width: Int64) -> Int { SlidingWindow.most(passed, width: width) }
        #expect(worst(1000) <= 100, "\(worst(1000)) in one second")
        // The jitter guard: no more than the limit even in a window 5 % longer.
        #expect(worst(1050) <= 100, "\(worst(1050)) in 1,050 ms: no room left for call jitter")
        #expect(worst(100) <= 10, "\(worst(100)) in one tenth of a second: not spread")
        // The limit is used, not just respected: about 95 per second over 2 s
        // (100 per 1,050 ms, each tenth opening on the next 5 ms step).
        #expect(passed.count >= 180, "\(passed.count) passed in 2 s")
    }

    @Test("a waiting message is told when the next slot frees; small rates are not spread")
    func waitTimes() async throws {
        let server = try await TestRedisServer()
        let limiter = RateLimiter(redis: RedisPool(configuration: server.configuration, logger: logger))
        let spread = RateLimiter.Rate(name: uniqueName("spread"), limit: 50, window: .seconds(1))
        for i in 0..<5 { #expect(try await limiter.acquire([spread], member: "a\(i)", now: 10_000) == .allowed) }
        // The sixth within the tenth (105 ms: a tenth of the guarded 1,050 ms) waits
        // for the first of them to leave it.
        #expect(try await limiter.acquire([spread], member: "a5", now: 10_040) == .wait(milliseconds: 66, limit: spread.name))
        #expect(try await limiter.acquire([spread], member: "a5", now: 10_106) == .allowed)
        // A member already let through passes again (a retry of the same message).
        #expect(try await limiter.acquire([spread], member: "a0", now: 10_102) == .allowed)
        // Below 10 per window: only the window counts.
        let small = RateLimiter.Rate(name: uniqueName("small"), limit: 5, window: .seconds(1))
        for i in 0..<5 { #expect(try await limiter.acquire([small], member: "b\(i)", now: 20_000) == .allowed) }
        #expect(try await limiter.acquire([small], member: "b5", now: 20_500) == .wait(milliseconds: 551, limit: small.name))
    }

    @Test(
        "one per window (a WhatsApp recipient's interval): the next message waits until the window after the last one let through, a retry of that one passes; a GET and a SET per message"
    )
    func onePerWindow() async throws {
        let server = try await TestRedisServer()
        let redis = RedisPool(configuration: server.configuration, logger: logger)
        let limiter = RateLimiter(redis: redis)
        let recipient = RateLimiter.Rate(name: "whatsapp-recipient:\(uniqueName("+4206"))", limit: 1, window: .seconds(6))
        _ = try await redis.execute(["CONFIG", "RESETSTAT"])
        #expect(try await limiter.acquire([recipient], member: "m1", now: 50_000) == .allowed)
        // The window is counted as 6,300 ms (the jitter guard).
        #expect(try await limiter.acquire([recipient], member: "m2", now: 51_000) == .wait(milliseconds: 5_301, limit: recipient.name))
        #expect(try await limiter.acquire([recipient], member: "m1", now: 52_000) == .allowed, "a retry of the one let through")
        // m1's retry at 52,000 renewed its slot (until 58,300): m2, back at its
        // turn, is still held, and gets the next turn (a slot's time after its last).
        #expect(try await limiter.acquire([recipient], member: "m2", now: 56_301) == .wait(milliseconds: 6_300, limit: recipient.name))
        #expect(try await limiter.acquire([recipient], member: "m2", now: 58_300) == .allowed)
        // Two messages to one recipient in one call: the second sees the first's slot.
        let both = try await limiter.acquire(many: ["m3", "m4"].map { .init(rates: [recipient], member: $0) }, now: 70_000)
        #expect(both.first == .allowed && both.last != .allowed, "\(both)")
        let stats = try await redis.execute(["INFO", "commandstats"]).string ?? ""
        #expect(
            !stats.contains("cmdstat_zadd") && !stats.contains("cmdstat_zcard") && !stats.contains("cmdstat_pexpire"),
            "no sorted set for a rate of one: \(stats)")
    }

    @Test(
        "acquire(many:) decides in order, as one by one would: the messages a rate and a unique-recipient cap let through, the rest with their turns; unlimited ones pass; 64 messages per call"
    )
    func many() async throws {
        let server = try await TestRedisServer()
        let redis = RedisPool(configuration: server.configuration, logger: logger)
        let limiter = RateLimiter(redis: redis)
        // 9 per 6 s (not spread); 3 unique recipients per day on the account.
        let rate = RateLimiter.Rate(name: uniqueName("many"), limit: 9, window: .seconds(6))
        let account = uniqueName("acct")
        let requests = (0..<100).map { i -> RateLimiter.Request in
            if i % 10 == 9 { return .init(rates: [], member: "free-\(i)") }
            let recipient = "r\(i % 4)"  // r3 is the fourth recipient: over the cap of 3
            return .init(rates: [rate], unique: .init(account: account, recipient: recipient, defaultLimit: 3), member: "m\(i)")
        }
        _ = try await redis.execute(["CONFIG", "RESETSTAT"])
        let decisions = try await limiter.acquire(many: requests, now: 100_000, recheck: .seconds(30))
        // One by one: each limited message takes a slot unless the rate is full or
        // it is r3's (over the cap: held by the cap, taking no slot).
        var taken = 0
        var expected: [RateLimiter.Decision] = []
        for (i, r) in requests.enumerated() {
            if r.rates.isEmpty { expected.append(.allowed); continue }
            if taken == 9 {
                expected.append(.wait(milliseconds: 0, limit: rate.name))
            } else if i % 4 == 3 {
                expected.append(.wait(milliseconds: 0, limit: "unique-recipients:\(account)"))
            } else {
                taken += 1
                expected.append(.allowed)
            }
        }
        func limitName(_ d: RateLimiter.Decision) -> String? { if case .wait(_, let name) = d { name } else { nil } }
        #expect(decisions.map(limitName) == expected.map(limitName))
        // Those held by the rate get successive turns: the first when the oldest
        // slot frees (the window counted as 6,300 ms), then a slot's time (700 ms)
        // apart — past the 30 s recheck too: a rate's backlog waits once.
        let turns = decisions.compactMap { d -> Int64? in if case .wait(let ms, rate.name) = d { ms } else { nil } }
        #expect(turns.count > 43 && turns == turns.indices.map { 6_301 + 700 * Int64($0) }, "\(turns)")
        // Those held by the cap would wait a day for a recipient to leave: they are
        // told the recheck (30 s), the safety net should a tier change not reach them.
        let capped = decisions.compactMap { d -> Int64? in if case .wait(let ms, "unique-recipients:\(account)") = d { ms } else { nil } }
        #expect(!capped.isEmpty && capped.allSatisfy { $0 == 30_000 }, "\(capped)")
        // 90 limited messages: two calls of 64 and 26.
        let stats = try await redis.execute(["INFO", "commandstats"]).string ?? ""
        #expect(stats.contains("cmdstat_evalsha:calls=2,"), "\(stats)")
    }

    @Test("one call holding messages of several shapes (accounts, domains, rates of one, caps, none) decides as calls of one message each do")
    func shapes() async throws {
        let server = try await TestRedisServer()
        let redis = RedisPool(configuration: server.configuration, logger: logger)
        let limiter = RateLimiter(redis: redis)
        // The same traffic under two prefixes: once in one call, once message by message.
        func traffic(_ p: String) -> [RateLimiter.Request] {
            (0..<60).map { i in
                // A WhatsApp recipient's interval; the two accounts' recipients differ.
                let recipient = RateLimiter.Rate(name: "\(p)recipient:\(i % 4)-\(i % 7)", limit: 1, window: .seconds(6))
                switch i % 4 {
                case 0:
                    return .init(
                        rates: [.init(name: "\(p)wa:1", limit: 9, window: .seconds(1)), recipient],
                        unique: .init(account: "\(p)wa:1", recipient: "r\(i % 7)", defaultLimit: 4), member: "m\(i)", shard: 3)
                case 1: return .init(rates: [.init(name: "\(p)wa:2", limit: 3, window: .seconds(1)), recipient], member: "m\(i)")
                case 2:
                    return .init(
                        rates: [.init(name: "\(p)email", limit: 100, window: .seconds(1)), .init(name: "\(p)domain:\(i % 3)", limit: 2, window: .seconds(1))],
                        member: "m\(i)")
                default: return .init(rates: [], member: "m\(i)")
                }
            }
        }
        func names(_ decisions: [RateLimiter.Decision], _ p: String) -> [String] {
            decisions.map { d in if case .wait(let ms, let name) = d { "\(name.replacingOccurrences(of: p, with: "")) \(ms)" } else { "allowed" } }
        }
        let together = try await limiter.acquire(many: traffic("P1."), now: 500_000)
        var oneByOne: [RateLimiter.Decision] = []
        for r in traffic("P2.") { oneByOne.append(try await limiter.acquire(many: [r], now: 500_000)[0]) }
        let a = names(together, "P1."), b = names(oneByOne, "P2.")
        #expect(a == b, "\(zip(a, b).enumerated().filter { $0.element.0 != $0.element.1 }.map { "\($0.offset): \($0.element.0) / \($0.element.1)" })")
        // Every kind of answer occurs: let through, held by a rate, by a rate of one, by the cap.
        let kinds = Set(names(together, "P1.").map { String($0.prefix { $0 != ":" && $0 != " " }) })
        #expect(kinds.isSuperset(of: ["allowed", "wa", "recipient", "unique-recipients", "domain"]), "\(kinds)")
    }

    @Test(
        "far below its limits, a call's messages cost no command of their own: each set is counted, added to and given its expiry once; near a limit it is read exactly"
    )
    func setsOncePerCall() async throws {
        let server = try await TestRedisServer()
        let redis = RedisPool(configuration: server.configuration, logger: logger)
        let limiter = RateLimiter(redis: redis)
        let rate = RateLimiter.Rate(name: uniqueName("wide"), limit: 10_000, window: .seconds(1))
        let account = uniqueName("acct")
        // 64 messages to 32 recipients (each twice).
        let requests = (0..<64).map {
            RateLimiter.Request(rates: [rate], unique: .init(account: account, recipient: "r\($0 % 32)", defaultLimit: 1_000), member: "m\($0)")
        }
        _ = try await redis.execute(["CONFIG", "RESETSTAT"])
        #expect(try await limiter.acquire(many: requests, now: 100_000) == Array(repeating: .allowed, count: 64))
        let stats = try await redis.execute(["INFO", "commandstats"]).string ?? ""
        for command in ["zadd", "zcard", "pexpire"] { #expect(stats.contains("cmdstat_\(command):calls=2,"), "\(command): \(stats)") }
        #expect(stats.contains("cmdstat_get:calls=1,"), "the tier is read once: \(stats)")
        #expect(try await redis.execute(["ZCARD", "herald:{limits}:rate:\(rate.name)"]).int == 64)
        #expect(try await redis.execute(["ZCARD", "herald:{limits}:uniq:\(account)"]).int == 32)
        // At the cap, the set is read exactly: 32 recipients counted, a cap of 33
        // lets one new recipient through and holds the next; known ones pass.
        try await limiter.setTier(account: account, limit: 33)
        let more = ["new1", "new2", "r5"].map {
            RateLimiter.Request(rates: [rate], unique: .init(account: account, recipient: $0, defaultLimit: 1_000), member: "x-\($0)")
        }
        let decisions = try await limiter.acquire(many: more, now: 100_100)
        #expect(decisions[0] == .allowed && decisions[2] == .allowed, "\(decisions)")
        if case .wait(_, let limit) = decisions[1] {
            #expect(limit == "unique-recipients:\(account)")
        } else {
            Issue.record("new2 passed the cap: \(decisions)")
        }
    }

    @Test("messages held by a rate get successive turns a slot's time apart, not all the same moment; each passes at its turn")
    func turns() async throws {
        let server = try await TestRedisServer()
        let limiter = RateLimiter(redis: RedisPool(configuration: server.configuration, logger: logger))
        // 20/s, counted over 1,050 ms: 2 per tenth (105 ms), a slot every 52.5 ms.
        let rate = RateLimiter.Rate(name: uniqueName("turns"), limit: 20, window: .seconds(1))
        for m in ["m0", "m1"] { #expect(try await limiter.acquire([rate], member: m, now: 50_000) == .allowed) }
        var waits: [Int64] = []
        for m in ["m2", "m3", "m4", "m5"] {
            if case .wait(let ms, _) = try await limiter.acquire([rate], member: m, now: 50_010) { waits.append(ms) }
        }
        // The first when the tenth frees (50,106), then one slot's time after another.
        #expect(waits == [96, 149, 201, 254], "\(waits)")
        #expect(try await limiter.acquire([rate], member: "m2", now: 50_106) == .allowed)
        #expect(try await limiter.acquire([rate], member: "m3", now: 50_159) == .allowed)
        // A newcomer that finds the rate full queues behind m4 and m5 (turns at
        // 50,211 and 50,263.5): its turn is 50,316, not when the tenth frees (50,212).
        #expect(try await limiter.acquire([rate], member: "late", now: 50_160) == .wait(milliseconds: 156, limit: rate.name))
        // The recheck does not shorten a turn: a message told to come back sooner
        // would find the rate full and take a new turn at the back, and the turns
        // would drift from the real queue; each message waits once, however long the line.
        var far: [Int64] = []
        for m in ["h1", "h2", "h3"] {
            if case .wait(let ms, _) = try await limiter.acquire([rate], member: m, now: 50_170, recheck: .milliseconds(100)) { far.append(ms) }
        }
        #expect(far == [199, 251, 304], "\(far)")
    }

    @Test("messages held by the unique-recipient cap get successive turns, each when another recipient leaves the window; a tier change brings them forward")
    func uniqueTurnsAndTierChange() async throws {
        let server = try await TestRedisServer()
        let redis = RedisPool(configuration: server.configuration, logger: logger)
        let limiter = RateLimiter(redis: redis)
        let store = MessageStore(redis: redis, partitions: 4)
        let account = uniqueName("acct")
        // Two recipients per 10 s.
        func ask(_ recipient: String, _ member: String, shard: Int? = nil, now: Int64) async throws -> RateLimiter.Decision {
            try await limiter.acquire(
                many: [
                    .init(rates: [], unique: .init(account: account, recipient: recipient, defaultLimit: 2, window: .seconds(10)), member: member, shard: shard)
                ],
                now: now, recheck: .seconds(3600))[0]
        }
        // The clock is near the real one: `setTier` reads it.
        let t0 = Int64(Date().timeIntervalSince1970 * 1000) - 3_000
        #expect(try await ask("r1", "m1", now: t0 + 1_000) == .allowed)
        #expect(try await ask("r2", "m2", now: t0 + 2_000) == .allowed)
        let cap = "unique-recipients:\(account)"
        // The first held comes back when r1 leaves (11,001), the next when r2
        // leaves (12,001), not both at 11,001; past the set's recipients, a
        // recipient's share of the window (5 s) apart.
        #expect(try await ask("r3", "m3", now: t0 + 3_000) == .wait(milliseconds: 8_001, limit: cap))
        #expect(try await ask("r4", "m4", now: t0 + 3_000) == .wait(milliseconds: 9_001, limit: cap))
        #expect(try await ask("r5", "m5", now: t0 + 3_000) == .wait(milliseconds: 14_001, limit: cap))
        // A known recipient still passes.
        #expect(try await ask("r1", "m1b", now: t0 + 3_000) == .allowed)
        // The sender notes a hold with the message's shard; a tier change brings
        // the message forward if it is still waiting for this cap, and only then.
        let held = SendRequest(id: "held-1", contactId: "c-held", campaignId: "c", channel: .whatsapp, template: "t")
        let other = SendRequest(id: "held-2", contactId: "c-other", campaignId: "c", channel: .whatsapp, template: "t")
        let now = t0 + 3_000
        for r in [held, other] {
            let shard = Shard.of(r.contactId, partitions: 4)
            guard case .wait(let ms, cap) = try await ask("n-\(r.id)", r.id, shard: shard, now: now) else { Issue.record("not held"); return }
            #expect(ms > 5_000)
        }
        try await store.record(held, .retryScheduled, reason: "throttled by the \(cap) limit", next: now + 3_600_000, now: now)
        try await store.record(other, .retryScheduled, reason: "HTTP 503", next: now + 3_600_000, now: now)
        #expect(try await limiter.setTier(account: account, limit: 10, now: now + 10) == 1)
        #expect(try await store.message(contactId: held.contactId, id: held.id)?["next_ms"] == String(now + 10))
        #expect(try await store.message(contactId: other.contactId, id: other.id)?["next_ms"] == String(now + 3_600_000))
        let due = try await store.due(shards: Array(0..<4), now: now + 10, limit: 10).requests.map(\.id)
        #expect(due == ["held-1"], "\(due)")
        // Under the new tier (10), the next new recipient passes at once.
        #expect(try await ask("r6", "m6", now: now + 20) == .allowed)
    }
}

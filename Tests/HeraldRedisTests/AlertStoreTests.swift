import Foundation
import HeraldCore
import HeraldRedis
import HeraldTestSupport
import Logging
import Testing

@Suite("Alert caps and waiting visits on a real redis-server", .timeLimit(.minutes(1)))
struct AlertStoreTests {
    func rule(_ frequency: String, zone: String = "Europe/Warsaw") throws -> AlertRule {
        try AlertRule(
            json: try YAMLValue.parse(
                "name: Cap \(frequency) \(zone)\npages: ['shop.example/p']\nfrequency: \(frequency)\ntime_zone: \(zone)\nrecipients: {cc: [a@b.example]}"))
    }

    /// Admits visit `id` at `time` (RFC 3339).
    func admit(_ store: AlertStore, _ rule: AlertRule, _ contact: String, _ id: String, _ time: String) async throws -> AlertStore.Admission {
        let at = try #require(RFC3339.parseMilliseconds(time))
        let period = rule.frequency.per.containing(at, timeZone: rule.timeZone)
        return try await store.admit(rule: rule, contactId: contact, visitId: id, periodKey: period.key, periodEndsAt: period.endsAt, now: at)
    }

    @Test("each frequency mode holds within its local period and starts again in the next; a replayed visit is admitted again, not counted")
    func frequencyModes() async throws {
        let server = try await TestRedisServer()
        let store = AlertStore(redis: RedisPool(configuration: server.configuration, logger: Logger(label: "test")), partitions: 24)
        let c = uniqueName("contact")

        // Once a day (Warsaw): 22:30Z on the 22nd is 23:30 there, 23:30Z is already the 23rd.
        let daily = try rule("once a day")
        #expect(try await admit(store, daily, c, "d1", "2026-11-22T22:30:00Z") == .allowed)
        #expect(try await admit(store, daily, c, "d2", "2026-11-22T22:45:00Z") == .suppressed)
        #expect(try await admit(store, daily, c, "d1", "2026-11-22T22:30:00Z") == .again)
        #expect(try await admit(store, daily, c, "d3", "2026-11-22T23:30:00Z") == .allowed)
        // The same instants in London are one day: only the first passes.
        let london = try rule("once a day", zone: "Europe/London")
        #expect(try await admit(store, london, c, "l1", "2026-11-22T22:30:00Z") == .allowed)
        #expect(try await admit(store, london, c, "l2", "2026-11-22T23:30:00Z") == .suppressed)

        // 2 per week: Sunday and Monday (Warsaw) are different ISO weeks.
        let weekly = try rule("2 per week")
        #expect(try await admit(store, weekly, c, "w1", "2026-11-16T09:00:00Z") == .allowed)  // Monday
        #expect(try await admit(store, weekly, c, "w2", "2026-11-20T09:00:00Z") == .allowed)
        #expect(try await admit(store, weekly, c, "w3", "2026-11-22T22:30:00Z") == .suppressed)  // Sunday 23:30 local
        #expect(try await admit(store, weekly, c, "w4", "2026-11-22T23:30:00Z") == .allowed)  // Monday 00:30 local

        // Once a month: the last evening of November in UTC is December in Warsaw.
        let monthly = try rule("once a month")
        #expect(try await admit(store, monthly, c, "m1", "2026-11-02T10:00:00Z") == .allowed)
        #expect(try await admit(store, monthly, c, "m2", "2026-11-30T22:00:00Z") == .suppressed)  // 23:00 on the 30th
        #expect(try await admit(store, monthly, c, "m3", "2026-11-30T23:30:00Z") == .allowed)  // 00:30 on 1 December

        // Caps are per contact and per rule.
        #expect(try await admit(store, daily, uniqueName("other"), "d2", "2026-11-22T22:45:00Z") == .allowed)
        #expect(try await admit(store, monthly, c, "d2", "2026-12-05T10:00:00Z") == .suppressed)
        await server.stop()
    }

    @Test("many concurrent admissions for one rule, contact and day admit exactly N")
    func concurrentAdmissions() async throws {
        let server = try await TestRedisServer()
        let pool = RedisPool(configuration: server.configuration, logger: Logger(label: "test"))
        let store = AlertStore(redis: pool, partitions: 24)
        let threePerDay = try rule("3 per day")
        let c = uniqueName("contact")
        let results = try await withThrowingTaskGroup(of: AlertStore.Admission.self) { group in
            for i in 0..<50 { group.addTask { try await admit(store, threePerDay, c, "v\(i)", "2026-11-22T12:00:00Z") } }
            return try await group.reduce(into: [AlertStore.Admission]()) { $0.append($1) }
        }
        #expect(results.filter { $0 == .allowed }.count == 3 && results.filter { $0 == .suppressed }.count == 47)
        await server.stop()
    }

    @Test("a waiting visit is replaced only if unchanged since read; the timeout sweep takes due visits once")
    func waitingVisits() async throws {
        let server = try await TestRedisServer()
        let store = AlertStore(redis: RedisPool(configuration: server.configuration, logger: Logger(label: "test")), partitions: 4)
        let c = uniqueName("contact")
        let v1 = PageVisit(eventId: "e1", url: "shop.example/pricing", at: 1000, session: nil, acceptedAt: 1001, waiting: ["r": 30_000])
        let v2 = PageVisit(eventId: "e2", url: "shop.example/about", at: 5000, session: "s", acceptedAt: 5001, waiting: ["r": 30_000])
        #expect(try await store.replaceVisits([.init(contactId: c, expected: nil, next: v1, deadline: 10_000)], now: 0) == [c])
        #expect(try await store.visits([c])[c] == v1)
        // Someone who read nothing (stale) cannot overwrite v1.
        #expect(try await store.replaceVisits([.init(contactId: c, expected: nil, next: v2, deadline: 10_000)], now: 0).isEmpty)
        #expect(try await store.replaceVisits([.init(contactId: c, expected: v1, next: v2, deadline: 20_000)], now: 0) == [c])
        let shard = Shard.of(c, partitions: 4)
        #expect(try await store.takeTimedOut(shard: shard, now: 19_999).isEmpty)
        let taken = try await store.takeTimedOut(shard: shard, now: 20_000)
        #expect(taken.count == 1 && taken.first?.contactId == c && taken.first?.visit == v2)
        #expect(try await store.takeTimedOut(shard: shard, now: 30_000).isEmpty)
        // The evaluator that read v2 before the sweep took it finds it gone.
        #expect(try await store.replaceVisits([.init(contactId: c, expected: v2, next: nil, deadline: 0)], now: 0).isEmpty)
        await server.stop()
    }

    @Test("a batch of changes over many shards applies exactly the unchanged ones, sets and clears deadlines, across several script calls")
    func waitingVisitsBatch() async throws {
        let server = try await TestRedisServer()
        let store = AlertStore(redis: RedisPool(configuration: server.configuration, logger: Logger(label: "test")), partitions: 4)
        let contacts = (0..<1200).map { "\(uniqueName("c"))-\($0)" }  // about 300 a shard: more than one call each
        func visit(_ id: String, at: Int64) -> PageVisit {
            PageVisit(eventId: id, url: "shop.example/p", at: at, session: nil, acceptedAt: at, waiting: ["r": 30_000])
        }
        let first = contacts.map { AlertStore.VisitChange(contactId: $0, expected: nil, next: visit("a-\($0)", at: 1000), deadline: 10_000) }
        #expect(try await store.replaceVisits(first, now: 0) == Set(contacts))
        // Even contacts: read correctly, replaced (by a new visit or by none, alternately); odd contacts: a stale read.
        let second = contacts.enumerated().map { i, c in
            i % 2 == 0
                ? AlertStore.VisitChange(
                    contactId: c, expected: visit("a-\(c)", at: 1000), next: i % 4 == 0 ? visit("b-\(c)", at: 2000) : nil, deadline: 20_000)
                : AlertStore.VisitChange(contactId: c, expected: nil, next: visit("x-\(c)", at: 2000), deadline: 20_000)
        }
        #expect(try await store.replaceVisits(second, now: 0) == Set(contacts.enumerated().filter { $0.offset % 2 == 0 }.map(\.element)))
        let now = try await store.visits(contacts)
        for (i, c) in contacts.enumerated() {
            #expect(now[c]?.eventId == (i % 4 == 0 ? "b-\(c)" : i % 2 == 0 ? nil : "a-\(c)"), "\(i)")
        }
        // Deadlines: the odd contacts' still 10 s, the replaced ones 20 s, the cleared ones gone.
        var taken: [String: String] = [:]
        for shard in 0..<4 {
            for (contact, v) in try await store.takeTimedOut(shard: shard, now: 10_000, limit: 10_000) { taken[contact] = v.eventId }
        }
        #expect(taken == Dictionary(uniqueKeysWithValues: contacts.enumerated().filter { $0.offset % 2 == 1 }.map { ($0.element, "a-\($0.element)") }))
        var later = 0
        for shard in 0..<4 { later += try await store.takeTimedOut(shard: shard, now: 20_000, limit: 10_000).count }
        #expect(later == 300)
        await server.stop()
    }
}

@Suite("Recent activity on a real redis-server", .timeLimit(.minutes(1)))
struct AlertActivityTests {
    @Test("the last 10 distinct events, newest first, even when a replayed batch recorded some twice")
    func activity() async throws {
        let server = try await TestRedisServer()
        let store = AlertStore(redis: RedisPool(configuration: server.configuration, logger: Logger(label: "test")), partitions: 4)
        let c = uniqueName("contact")
        func entry(_ i: Int) -> [UInt8] {
            JSONValue.object(["id": .string("e\(i)"), "type": "page_visited", "at": .int(Int64(i)), "detail": .string("p\(i)")]).serialized()
        }
        try await store.recordActivity((0..<12).map { (c, entry($0)) })
        try await store.recordActivity((8..<12).map { (c, entry($0)) })  // a replay of the last four
        let got = try await store.activity(c)
        #expect(got.compactMap { $0["id"]?.stringValue } == (2..<12).reversed().map { "e\($0)" })
        await server.stop()
    }
}

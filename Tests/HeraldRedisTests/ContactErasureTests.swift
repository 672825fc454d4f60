import HeraldCore
import HeraldRedis
import HeraldTestSupport
import Logging
import Testing

@Suite("Erasing a contact everywhere, on a real redis-server", .timeLimit(.minutes(1)))
struct ContactErasureTests {
    func texts(_ v: RedisValue) -> [String] {
        if let items = v.array { return items.flatMap(texts) }
        return v.string.map { [$0] } ?? []
    }

    /// Every key, and every value, member or field, as text.
    func everything(_ pool: RedisPool) async throws -> [String: String] {
        var out: [String: String] = [:]
        var cursor = "0"
        repeat {
            let reply = try await pool.execute(["SCAN", cursor, "COUNT", "1000"])
            cursor = reply.array?[0].string ?? "0"
            for key in (reply.array?[1].array ?? []).compactMap(\.string) {
                let type = try await pool.execute(["TYPE", key]).string ?? ""
                let dump: RedisValue
                switch type {
                case "string": dump = try await pool.execute(["GET", key])
                case "hash": dump = try await pool.execute(["HGETALL", key])
                case "set": dump = try await pool.execute(["SMEMBERS", key])
                case "zset": dump = try await pool.execute(["ZRANGE", key, "0", "-1"])
                case "list": dump = try await pool.execute(["LRANGE", key, "0", "-1"])
                default: dump = .null
                }
                out[key] = texts(dump).joined(separator: " ")
            }
        } while cursor != "0"
        return out
    }

    @Test(
        "profile, indexes, message records and their provider ids, retries, caps, alert activity and visits, WhatsApp recipient sets: nothing of the contact is left; another contact keeps everything"
    )
    func eraseEverywhere() async throws {
        let server = try await TestRedisServer()
        let pool = RedisPool(configuration: server.configuration, logger: Logger(label: "test"))
        let contacts = ContactStore(redis: pool, partitions: 4)
        let messages = MessageStore(redis: pool, partitions: 4)
        let alerts = AlertStore(redis: pool, partitions: 4)
        let limiter = RateLimiter(redis: pool)
        let erasure = ContactErasure(
            contacts: contacts, journeys: JourneyStore(redis: pool, partitions: 4), messages: messages, alerts: alerts, limiter: limiter)
        let now: Int64 = 1_796_000_000_000
        for (id, phone) in [("ada-x1", "+420601111111"), ("bob-x2", "+420602222222")] {
            var c = ContactChange()
            c.fields = ["phone": .string(phone), "email": .string("\(id)@example.com")]
            c.addLists = ["newsletter"]
            c.attributes = ["birthday": "1990-05-04"]
            try await contacts.apply(c, to: id, now: now)
            // A message sent (its provider id mapped back), one waiting for a retry, under the daily cap.
            let sent = SendRequest(id: "\(id):s:1", contactId: id, campaignId: "c", channel: .sms, template: "t")
            let waiting = SendRequest(id: "\(id):s:2", contactId: id, campaignId: "c", channel: .sms, template: "t")
            let cap = MessageStore.ClaimCap(day: RFC3339.date(milliseconds: now), limit: 5, reason: "cap")
            _ = try await messages.claim(many: [sent, waiting], caps: [cap, cap], now: now, lease: .seconds(60))
            _ = try await messages.record(
                many: [
                    .init(sent, .sent, mayCreate: false, providerId: "SM-\(id)", mapProviderId: true),
                    .init(waiting, .retryScheduled, reason: "later", next: now + 60_000, mayCreate: false),
                ], now: now)
            // Alert activity and an open page visit.
            try await alerts.recordActivity([(id, Array(#"{"id":"e1","url":"shop.example/pricing"}"#.utf8))])
            let visit = PageVisit(eventId: "v-\(id)", url: "shop.example/pricing", at: now, session: nil, acceptedAt: now, waiting: ["r": 30_000])
            _ = try await alerts.replaceVisits([.init(contactId: id, expected: nil, next: visit, deadline: now + 30_000)], now: now)
            // The phone in a WhatsApp account's unique recipients and its recipient window.
            _ = try await limiter.acquire(
                [.init(name: "whatsapp-recipient:\(phone)", limit: 1, window: .seconds(6))],
                unique: .init(account: "acct-1", recipient: phone, defaultLimit: 100), member: "\(id):w", now: now)
        }
        let before = try await everything(pool)
        #expect(before.contains { $0.key.contains("ada-x1") } && before.contains { $0.value.contains("+420601111111") }, "the test stored what it erases")
        #expect(try await erasure.erase("ada-x1", now: now + 1000))
        let after = try await everything(pool)
        let traces = after.filter {
            $0.key.contains("ada-x1") || $0.value.contains("ada-x1") || $0.value.contains("+420601111111") || $0.key.contains("+420601111111")
        }
        #expect(traces.isEmpty, "left: \(traces)")
        #expect(try await messages.message(contactId: "bob-x2", id: "bob-x2:s:1") != nil)
        #expect(try await contacts.get("bob-x2") != nil)
        #expect(after.contains { $0.value.contains("+420602222222") } && after.contains { $0.key.contains("bob-x2") })
        // Repeating finds nothing and fails nothing.
        #expect(try await erasure.erase("ada-x1", now: now + 2000) == false)
        await server.stop()
    }
}

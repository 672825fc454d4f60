import Foundation
import Glibc
import HeraldChannels
import HeraldCore
import HeraldDevTools
import HeraldService
import HeraldTestSupport
import Testing

/// What a Redis crash costs a journey run (docs/reliability.md, "Redis is a durable store").
@Suite("Redis killed with SIGKILL while reminders fire (AOF everysec)", .serialized, .timeLimit(.minutes(4)))
struct RedisCrashTests {
    let client = HTTPClient(concurrency: 4)
    static let campaign = """
        id: crash-cart
        list: shop
        entry: after_exit
        triggers:
          - event: cart_abandoned
        steps:
          - id: first
            send: {channel: email, template: cart-left, category: cart}
            next: wait
          - id: wait
            wait: 5s
            next: reminder
          - id: reminder
            send: {channel: email, template: cart-reminder, category: cart}
        """

    @Test(
        "SIGKILL of Redis in the middle of 200 reminders, restarted on its append-only file: no reminder lost; only one sent just before the crash can go out twice"
    )
    func killRedis() async throws {
        let aof = FileManager.default.temporaryDirectory.appendingPathComponent("herald-aof-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: aof) }
        let broker = try TestBroker.start(partitions: 4)
        var redis = try await TestRedisServer(port: freeTCPPort(), appendOnlyDirectory: aof)
        let sink = try await TestSMTPSink()
        let ingestor = try await TestIngestor(broker: broker, redis: redis)
        let scheduler = try await TestWorker(.scheduler, broker: broker, redis: redis)
        let sender = try await TestWorker(
            .sender, broker: broker, redis: redis,
            extraEnvironment: [
                "HERALD_SENDER_SMTP_SERVER": "127.0.0.1:\(sink.port)",
                "HERALD_SENDER_TEMPLATES_DIR": "\(BuiltProducts.packageRoot)/config/templates",
                "HERALD_SENDER_RETRY_BASE": "200ms",
            ])
        let admin = [("Authorization", "Bearer \(TestIngestor.adminKey)"), ("Content-Type", "application/json")]
        let contacts = (0..<200).map { "crash\($0)" }
        for c in contacts {
            let r = try await client.send(
                method: "PUT", url: "\(ingestor.apiURL)/v1/contacts/\(c)", headers: admin, body: Array(#"{"email":"\#(c)@shop.example"}"#.utf8))
            #expect(r.status == 200, "\(r.bodyText)")
        }
        let published = try await client.send(
            method: "POST", url: "\(ingestor.apiURL)/v1/campaigns/crash-cart/publish",
            headers: [("Authorization", "Bearer \(TestIngestor.adminKey)"), ("Content-Type", "application/yaml")], body: Array(Self.campaign.utf8))
        #expect(published.status == 200, "\(published.bodyText)")
        try await Task.sleep(for: .seconds(1))
        // Four waves half a second apart: reminders fall due over two seconds,
        // and Redis is killed in the middle of them.
        let start = ContinuousClock.now
        for wave in 0..<4 {
            let ids = contacts[(wave * 50)..<(wave * 50 + 50)]
            let body = #"{"events":[\#(ids.map { #"{"id":"crash-\#($0)","type":"cart_abandoned","contact_id":"\#($0)"}"# }.joined(separator: ","))]}"#
            let r = try await client.postJSON("\(ingestor.apiURL)/v1/events", Array(body.utf8), headers: [("Authorization", "Bearer \(TestIngestor.apiKey)")])
            #expect(r.status == 202, "\(r.bodyText)")
            try await Task.sleep(until: start + .milliseconds(500 * (wave + 1)), clock: .continuous)
        }
        try await Task.sleep(until: start + .milliseconds(6000), clock: .continuous)
        let before = reminders(sink)
        await redis.kill()
        try await Task.sleep(for: .seconds(1))
        // With Redis down no new send can be claimed: this is every reminder
        // whose first copy went out before the restart (calls in flight at the kill included).
        let sentBeforeRestart = Set(reminders(sink))
        redis = try await TestRedisServer(port: redis.port, appendOnlyDirectory: aof)
        // Every reminder out (or the time is up), then time for doubles to show.
        let deadline = ContinuousClock.now + .seconds(90)
        while ContinuousClock.now < deadline, Set(reminders(sink)).count < contacts.count {
            try await Task.sleep(for: .milliseconds(200))
        }
        try await Task.sleep(for: .seconds(5))
        let got = reminders(sink)
        var count: [String: Int] = [:]
        for to in got { count[to, default: 0] += 1 }
        let lost = contacts.filter { count["\($0)@shop.example"] == nil }
        let doubled = contacts.filter { (count["\($0)@shop.example"] ?? 0) > 1 }
        print("killRedis: \(before.count) reminders before the kill; after the restart \(lost.count) lost, \(doubled.count) doubled of \(contacts.count)")
        // On a loaded machine the kill can land after the last reminder (a fresh-clone
        // CI run on 2026-12-06 saw 200 of 200 before it): that run measures nothing
        // and says so, rather than failing the suite.
        withKnownIssue("the kill fell after every reminder", isIntermittent: true) {
            #expect(before.count > 0 && before.count < contacts.count, "the kill should fall in the middle of the reminders (\(before.count) before it)")
        }
        // Without persistence this run loses every reminder not yet sent (100 of 200).
        // 2 of 200 were lost in one CI run on 2026-12-03 (crash134, crash147, both
        // due within the kill's second): a send claim Redis ran whose answer died
        // with it (the sender then found its own claim busy, later "outcome
        // unknown"). Fixed, and reproduced deterministically by
        // `SenderTests.lostClaimAnswer`; 17 runs since, 13 of them with a fuzzer on
        // both cores, lost none (docs/reliability.md), so any loss fails again.
        #expect(lost.isEmpty, "\(lost.count) reminders lost: \(lost.prefix(5))")
        // Redis normally writes the append-only file before it answers, but with
        // `everysec` it holds writes back (up to 2 s, still answering) while an
        // earlier fsync lags: the claims and saves of reminders sent then can be
        // lost, and those reminders go out again (docs/reliability.md). Nothing
        // first sent after the restart is doubled.
        #expect(
            doubled.allSatisfy { sentBeforeRestart.contains("\($0)@shop.example") },
            "sent twice though first sent after the restart: \(doubled.filter { !sentBeforeRestart.contains("\($0)@shop.example") })")
        let entries = sink.messages().filter { $0.contains("X-Herald-Send-Id: crash-cart") && !$0.contains("Still thinking about it?") }
        #expect(entries.count >= contacts.count)
        await sender.process.stop()
        await scheduler.process.stop()
        await ingestor.process.stop()
        await sink.stop()
        await redis.stop()
    }

    /// The recipient of every reminder received so far, one entry per message.
    func reminders(_ sink: TestSMTPSink) -> [String] {
        sink.messages().filter { $0.contains("Subject: Still thinking about it?") }.compactMap { mail in
            mail.split(whereSeparator: \.isNewline).first { $0.hasPrefix("To:") }.map {
                $0.dropFirst(3).trimmingCharacters(in: .whitespacesAndNewlines).trimmingCharacters(in: CharacterSet(charactersIn: "<>"))
            }
        }
    }
}

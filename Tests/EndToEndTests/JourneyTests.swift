import Foundation
import Glibc
import HeraldChannels
import HeraldCore
import HeraldKafka
import HeraldRedis
import HeraldService
import HeraldTestSupport
import Logging
import Testing

@Suite("Journeys end to end (ingestor + scheduler executables)", .serialized, .timeLimit(.minutes(4)))
struct JourneyTests {
    let client = HTTPClient(concurrency: 2)
    static let campaign = """
        id: e2e-cart
        list: shop
        entry: after_exit
        triggers:
          - event: cart_abandoned
        exit:
          - event: purchase
        steps:
          - id: first
            send: {channel: email, template: cart-1, category: cart}
            next: wait
          - id: wait
            wait: 3s
            next: reminder
          - id: reminder
            send: {channel: email, template: cart-2, category: cart}
            next: tag
          - id: tag
            add_tag: reminded
        """

    func publish(_ ingestor: TestIngestor, wait: String = "3s") async throws {
        let yaml = Self.campaign.replacingOccurrences(of: "wait: 3s", with: "wait: \(wait)")
        let r = try await client.send(
            method: "POST", url: "\(ingestor.apiURL)/v1/campaigns/e2e-cart/publish",
            headers: [("Authorization", "Bearer \(TestIngestor.adminKey)"), ("Content-Type", "application/yaml")], body: Array(yaml.utf8))
        #expect(r.status == 200, "\(r.bodyText)")
    }

    func post(_ ingestor: TestIngestor, _ events: [(id: String, type: String, contact: String)]) async throws {
        let body = #"{"events":[\#(events.map { #"{"id":"\#($0.id)","type":"\#($0.type)","contact_id":"\#($0.contact)"}"# }.joined(separator: ","))]}"#
        let r = try await client.postJSON("\(ingestor.apiURL)/v1/events", Array(body.utf8), headers: [("Authorization", "Bearer \(TestIngestor.apiKey)")])
        #expect(r.status == 202, "\(r.bodyText)")
    }

    /// (contact, template) of every send on herald.sends so far, once `done` holds.
    func sends(_ broker: TestBroker, timeout: Duration = .seconds(40), until done: @escaping @Sendable ([(String, String)]) -> Bool) async throws -> [(
        String, String
    )] {
        let records = try await readTopic(Topics.sends, bootstrapServers: broker.bootstrapServers, timeout: timeout) { records in
            done(records.compactMap(Self.decodeSend))
        }
        return records.compactMap(Self.decodeSend)
    }

    static func decodeSend(_ r: KafkaRecord) -> (String, String)? {
        guard let v = try? JSONValue.parse(r.value), let c = v["contact_id"]?.stringValue, let t = v["template"]?.stringValue else { return nil }
        return (c, t)
    }

    // One contact puts every event in one partition, and the embedded broker
    // keeps only 5 MB of a partition (DESIGN.md): the events are kept small so
    // all 10,000 stay on it until read.
    @Test("10,000 parallel entries for one contact: its stored journeys stay bounded in count and bytes")
    func boundedState() async throws {
        let broker = try TestBroker.start(partitions: 2)
        let redis = try await TestRedisServer()
        let ingestor = try await TestIngestor(broker: broker, redis: redis)
        let scheduler = try await TestWorker(.scheduler, broker: broker, redis: redis)
        let admin = [("Authorization", "Bearer \(TestIngestor.adminKey)"), ("Content-Type", "application/yaml")]
        let yaml = "id: every-visit\nlist: shop\nentry: parallel\ntriggers:\n  - event: visited\nsteps:\n  - id: done\n    end: true\n"
        let published = try await client.send(
            method: "POST", url: "\(ingestor.apiURL)/v1/campaigns/every-visit/publish", headers: admin, body: Array(yaml.utf8))
        #expect(published.status == 200, "\(published.bodyText)")
        let pad = String(repeating: "x", count: 100)  // each trigger event carries bytes that a finished journey no longer needs
        let entries = 10_000
        for batch in 0..<entries / 1000 {
            let events = (0..<1000).map { #"{"id":"v-\#(batch)-\#($0)","type":"visited","contact_id":"regular","properties":{"pad":"\#(pad)"}}"# }
            let r = try await client.postJSON(
                "\(ingestor.apiURL)/v1/events", Array(#"{"events":[\#(events.joined(separator: ","))]}"#.utf8),
                headers: [("Authorization", "Bearer \(TestIngestor.apiKey)")])
            #expect(r.status == 202, "\(r.bodyText.prefix(200))")
        }
        var entered: JSONValue = .null
        for _ in 0..<600 {
            let report = try JSONValue.parse(
                try await client.send(method: "GET", url: "\(ingestor.apiURL)/v1/campaigns/every-visit/report", headers: admin).body)
            entered = report["entered"] ?? .null
            if entered == .int(Int64(entries)) { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(entered == .int(Int64(entries)), "entered: \(entered)")
        let pool = RedisPool(configuration: redis.configuration, logger: Logger(label: "test"))
        let key = "herald:j:{\(Shard.of("regular", partitions: 2))}:regular"
        let fields = try await pool.execute(["HLEN", key]).int ?? -1
        let bytes = try await pool.execute(["MEMORY", "USAGE", key]).int ?? -1
        #expect(fields == Int64(JourneyRetention.keptPerCampaign), "\(fields) journeys kept")
        #expect(bytes > 0 && bytes < 16_384, "\(bytes) bytes for one contact's journeys")
        print("boundedState: \(entries) entries, \(fields) journeys kept, \(bytes) bytes")
        await scheduler.process.stop()
        await ingestor.process.stop()
        await redis.stop()
    }

    @Test(
        "size limits hold end to end: an event too large for its derived records is refused (413), one under the limit is accepted and still enters its journey"
    )
    func sizeLimits() async throws {
        let broker = try TestBroker.start(partitions: 2)
        let redis = try await TestRedisServer()
        let ingestor = try await TestIngestor(broker: broker, redis: redis)
        let scheduler = try await TestWorker(.scheduler, broker: broker, redis: redis)
        let yaml = "id: big-one\nlist: shop\ntriggers:\n  - event: big_order\nsteps:\n  - id: thanks\n    send: {channel: email, template: big}\n"
        let published = try await client.send(
            method: "POST", url: "\(ingestor.apiURL)/v1/campaigns/big-one/publish",
            headers: [("Authorization", "Bearer \(TestIngestor.adminKey)"), ("Content-Type", "application/yaml")], body: Array(yaml.utf8))
        #expect(published.status == 200, "\(published.bodyText)")
        func event(_ id: String, _ contact: String, padding: Int) -> [UInt8] {
            Array(#"{"id":"\#(id)","type":"big_order","contact_id":"\#(contact)","properties":{"pad":"\#(String(repeating: "x", count: padding))"}}"#.utf8)
        }
        let auth = [("Authorization", "Bearer \(TestIngestor.apiKey)")]
        // Just under the 1 MiB body limit: accepted with 202 once, though its journey command could never be produced.
        let huge = try await client.postJSON("\(ingestor.apiURL)/v1/events", event("huge", "hugo", padding: 999_700), headers: auth)
        #expect(huge.status == 413 && huge.bodyText.contains("more than the limit of 524288"), "\(huge.status) \(huge.bodyText.prefix(300))")
        let fits = try await client.postJSON("\(ingestor.apiURL)/v1/events", event("fits", "fiona", padding: 500_000), headers: auth)
        #expect(fits.status == 202, "\(fits.bodyText.prefix(300))")
        let seen = try await sends(broker) { s in s.contains { $0 == ("fiona", "big") } }
        #expect(seen.contains { $0 == ("fiona", "big") } && !seen.contains { $0.0 == "hugo" })
        await scheduler.process.stop()
        await ingestor.process.stop()
        await redis.stop()
    }

    @Test("an event accepted right after a publish answered enters the new campaign, every time; one right after a pause answered is held")
    func publishThenEvent() async throws {
        let broker = try TestBroker.start(partitions: 4)
        let redis = try await TestRedisServer()
        let ingestor = try await TestIngestor(broker: broker, redis: redis)
        let scheduler = try await TestWorker(.scheduler, broker: broker, redis: redis)
        let admin = [("Authorization", "Bearer \(TestIngestor.adminKey)"), ("Content-Type", "application/yaml")]
        let rounds = 20
        for i in 0..<rounds {
            // Live traffic keeps the router reading (and checking its catalogue)
            // just before the publish, as on a busy shop.
            try await post(ingestor, [("traffic-\(i)", "page_visited", "someone")])
            try await Task.sleep(for: .milliseconds(50))
            // Each round publishes a campaign of its own, then at once posts the event it triggers on.
            let yaml =
                "id: launch-\(i)\nlist: shop\ntriggers:\n  - event: launched_\(i)\nsteps:\n  - id: hello\n    send: {channel: email, template: launch-\(i)}\n"
            let r = try await client.send(method: "POST", url: "\(ingestor.apiURL)/v1/campaigns/launch-\(i)/publish", headers: admin, body: Array(yaml.utf8))
            #expect(r.status == 200, "\(r.bodyText)")
            try await post(ingestor, [("launch-\(i)-event", "launched_\(i)", "fan-\(i)")])
        }
        let seen = try await sends(broker, timeout: .seconds(30)) { s in (0..<rounds).allSatisfy { i in s.contains { $0 == ("fan-\(i)", "launch-\(i)") } } }
        let missing = (0..<rounds).filter { i in !seen.contains { $0 == ("fan-\(i)", "launch-\(i)") } }
        #expect(missing.isEmpty, "contacts whose event followed the publish never entered: \(missing)")
        // A pause answered before the event: the contact does not enter.
        #expect(try await client.send(method: "POST", url: "\(ingestor.apiURL)/v1/campaigns/launch-0/pause", headers: admin).status == 200)
        try await post(ingestor, [("launch-0-late", "launched_0", "late-fan")])
        try await Task.sleep(for: .seconds(3))
        let after = try await sends(broker, timeout: .seconds(3)) { _ in false }
        #expect(!after.contains { $0.0 == "late-fan" }, "an event after the pause answered entered the paused campaign")
        await scheduler.process.stop()
        await ingestor.process.stop()
        await redis.stop()
    }

    @Test("an event starts a journey; the wait fires once; an exit event stops another contact's journey; a step's tag reaches the profile")
    func cartJourney() async throws {
        let broker = try TestBroker.start(partitions: 4)
        let redis = try await TestRedisServer()
        let ingestor = try await TestIngestor(broker: broker, redis: redis)
        let scheduler = try await TestWorker(.scheduler, broker: broker, redis: redis, extraEnvironment: ["HERALD_SCHEDULER_TEST_WAIT": "1s"])
        // Waits count from the event's receipt: long enough for this test to read
        // Bob's first send back and post his purchase inside the wait.
        try await publish(ingestor, wait: "8s")
        try await post(ingestor, [("a-1", "cart_abandoned", "ann"), ("b-1", "cart_abandoned", "bob")])
        _ = try await sends(broker) { s in s.contains { $0 == ("bob", "cart-1") } }
        try await post(ingestor, [("b-2", "purchase", "bob")])
        let seen = try await sends(broker) { s in s.contains { $0 == ("ann", "cart-2") } }
        #expect(seen.filter { $0 == ("ann", "cart-1") }.count == 1)
        #expect(seen.filter { $0 == ("ann", "cart-2") }.count == 1)
        // Bob bought during the wait: no reminder, even well after it would have been due.
        try await Task.sleep(for: .seconds(4))
        let later = try await sends(broker, timeout: .seconds(5)) { _ in false }
        #expect(!later.contains { $0 == ("bob", "cart-2") }, "\(later)")
        #expect(later.filter { $0 == ("ann", "cart-2") }.count == 1)
        // The add_tag step went through herald.events.raw and the router to Ann's profile.
        var tags = JSONValue.null
        for _ in 0..<100 {
            let r = try await client.send(
                method: "GET", url: "\(ingestor.apiURL)/v1/contacts/ann", headers: [("Authorization", "Bearer \(TestIngestor.readKey)")])
            tags = ((try? JSONValue.parse(r.body))?["tags"]) ?? .null
            if tags == ["reminded"] { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(tags == ["reminded"])
        let metrics = try await client.get("\(scheduler.metricsURL)/metrics").bodyText
        #expect(metrics.contains("herald_scheduler_wakeup_lateness_seconds_count"))

        // Queries: Ann's journey is completed, Bob's exited; the report counts both.
        let admin = [("Authorization", "Bearer \(TestIngestor.adminKey)")]
        let journeys = try JSONValue.parse(
            try await client.send(
                method: "GET", url: "\(ingestor.apiURL)/v1/contacts/bob/journeys", headers: [("Authorization", "Bearer \(TestIngestor.readKey)")]
            ).body)
        #expect(
            journeys["journeys"]?.arrayValue?.first?["status"] == "exited" && journeys["journeys"]?.arrayValue?.first?["reason"] == "exit_event", "\(journeys)")
        let report = try JSONValue.parse(try await client.send(method: "GET", url: "\(ingestor.apiURL)/v1/campaigns/e2e-cart/report", headers: admin).body)
        #expect(report["entered"] == .int(2) && report["completed"] == .int(1) && report["active"] == .int(0), "\(report)")
        #expect(report["exited"] == ["exit_event": 1])
        #expect(report["steps"]?["reminder"] == .int(1) && report["versions"]?["1"]?["entered"] == .int(2))

        // Test mode: waits shortened (1 s here), a second test entry restarts the first, and reports leave tests out.
        let test = try await client.send(method: "POST", url: "\(ingestor.apiURL)/v1/campaigns/e2e-cart/test?contact=tess", headers: admin)
        #expect(test.status == 202, "\(test.bodyText)")
        _ = try await sends(broker) { s in s.contains { $0 == ("tess", "cart-2") } }
        _ = try await client.send(method: "POST", url: "\(ingestor.apiURL)/v1/campaigns/e2e-cart/test?contact=tess", headers: admin)
        let tess = try await sends(broker) { s in s.filter { $0 == ("tess", "cart-2") }.count == 2 }
        #expect(tess.filter { $0 == ("tess", "cart-1") }.count == 2)
        let after = try JSONValue.parse(try await client.send(method: "GET", url: "\(ingestor.apiURL)/v1/campaigns/e2e-cart/report", headers: admin).body)
        #expect(after["entered"] == .int(2), "\(after)")
        #expect(await scheduler.process.stop() == 0, "herald-scheduler did not stop gracefully on SIGTERM")
        await ingestor.process.stop()
        await redis.stop()
    }

    func admin(_ ingestor: TestIngestor, _ path: String, body: String? = nil) async throws -> HTTPClientResponse {
        var headers = [("Authorization", "Bearer \(TestIngestor.adminKey)")]
        if body != nil { headers.append(("Content-Type", "application/yaml")) }
        return try await client.send(method: "POST", url: "\(ingestor.apiURL)/v1/campaigns/e2e-cart/\(path)", headers: headers, body: Array((body ?? "").utf8))
    }

    /// The contact's first journey (as `GET /v1/contacts/{id}/journeys` shows it) once
    /// `done` holds, or after 10 s.
    func journey(_ ingestor: TestIngestor, _ contact: String, until done: (JSONValue) -> Bool) async throws -> JSONValue {
        var journey = JSONValue.null
        for _ in 0..<100 {
            let r = try await client.send(
                method: "GET", url: "\(ingestor.apiURL)/v1/contacts/\(contact)/journeys", headers: [("Authorization", "Bearer \(TestIngestor.readKey)")])
            journey = (try? JSONValue.parse(r.body))?["journeys"]?.arrayValue?.first ?? .null
            if journey != .null && done(journey) { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        return journey
    }

    @Test(
        "lifecycle: a new version leaves waiting journeys on theirs; pause holds wake-ups and resume fires them; stop now ends waiting journeys and lets no one in"
    )
    func lifecycle() async throws {
        let broker = try TestBroker.start(partitions: 4)
        let redis = try await TestRedisServer()
        let ingestor = try await TestIngestor(broker: broker, redis: redis)
        let scheduler = try await TestWorker(.scheduler, broker: broker, redis: redis)
        try await publish(ingestor, wait: "2s")
        try await Task.sleep(for: .seconds(1))
        try await post(ingestor, [("v1-1", "cart_abandoned", "old")])
        _ = try await sends(broker) { s in s.contains { $0 == ("old", "cart-1") } }
        // Version 2 (published with drain) changes the reminder's template; Old stays on version 1.
        let v2 = Self.campaign.replacingOccurrences(of: "wait: 3s", with: "wait: 4s").replacingOccurrences(of: "template: cart-2", with: "template: cart-2-v2")
        #expect(try await admin(ingestor, "publish?mode=drain", body: v2).status == 200)
        try await Task.sleep(for: .seconds(1))
        try await post(ingestor, [("v2-1", "cart_abandoned", "new")])
        let versions = try await sends(broker) { s in s.contains { $0 == ("old", "cart-2") } && s.contains { $0 == ("new", "cart-2-v2") } }
        #expect(!versions.contains { $0 == ("old", "cart-2-v2") } && !versions.contains { $0 == ("new", "cart-2") }, "\(versions)")

        // Pause: the wake-up falls due while paused and is held; resume fires it once.
        try await post(ingestor, [("p-1", "cart_abandoned", "held")])
        #expect(try await journey(ingestor, "held") { $0["step"] == "wait" }["status"] == "active")
        #expect(try await admin(ingestor, "pause").status == 200)
        try await Task.sleep(for: .seconds(6))
        #expect(try await journey(ingestor, "held") { _ in true }["step"] == "wait", "a wake-up ran while the campaign was paused")
        #expect(try await admin(ingestor, "resume").status == 200)
        let resumed = try await sends(broker) { s in s.contains { $0 == ("held", "cart-2-v2") } }
        #expect(resumed.filter { $0 == ("held", "cart-2-v2") }.count == 1)

        // Stop now: a journey in a long wait ends at once (reason stopped), sends nothing more, and no one enters.
        let v3 = v2.replacingOccurrences(of: "wait: 4s", with: "wait: 10m")
        #expect(try await admin(ingestor, "publish?mode=drain", body: v3).status == 200)
        try await Task.sleep(for: .seconds(1))
        try await post(ingestor, [("s-1", "cart_abandoned", "stopped")])
        _ = try await sends(broker) { s in s.contains { $0 == ("stopped", "cart-1") } }
        #expect(try await admin(ingestor, "stop?mode=now").status == 200)
        let journey = try await journey(ingestor, "stopped") { $0["status"] == "exited" }
        #expect(journey["status"] == "exited" && journey["reason"] == "stopped", "\(journey)")
        try await post(ingestor, [("late-1", "cart_abandoned", "late")])
        try await Task.sleep(for: .seconds(2))
        let after = try await sends(broker, timeout: .seconds(5)) { _ in false }
        #expect(after.contains { $0 == ("held", "cart-2-v2") }, "the read saw too little of the topic")
        #expect(!after.contains { $0.0 == "stopped" && $0.1 != "cart-1" }, "\(after)")
        #expect(!after.contains { $0.0 == "late" }, "a contact entered a stopped campaign")
        await scheduler.process.stop()
        await ingestor.process.stop()
        await redis.stop()
    }

    @Test("frequency control: the message history the scheduler keeps makes the third promo in two days take the skip branch; erasing the contact clears it")
    func frequencyControl() async throws {
        let broker = try TestBroker.start(partitions: 4)
        let redis = try await TestRedisServer()
        let ingestor = try await TestIngestor(broker: broker, redis: redis)
        let scheduler = try await TestWorker(.scheduler, broker: broker, redis: redis)
        let yaml = try String(contentsOfFile: BuiltProducts.packageRoot + "/config/campaigns/frequency-control.yaml", encoding: .utf8)
        let r = try await client.send(
            method: "POST", url: "\(ingestor.apiURL)/v1/campaigns/frequency-control/publish",
            headers: [("Authorization", "Bearer \(TestIngestor.adminKey)"), ("Content-Type", "application/yaml")], body: Array(yaml.utf8))
        #expect(r.status == 200, "\(r.bodyText)")
        try await Task.sleep(for: .seconds(1))
        func promos() async throws -> Int {
            try await sends(broker, timeout: .seconds(5)) { _ in false }.filter { $0 == ("freq", "weekly-promo") }.count
        }
        // One event at a time: each journey runs to its end before the next event.
        for n in 1...2 {
            try await post(ingestor, [("promo-\(n)", "promo_week_started", "freq")])
            _ = try await sends(broker) { s in s.filter { $0 == ("freq", "weekly-promo") }.count == n }
        }
        try await post(ingestor, [("promo-3", "promo_week_started", "freq")])
        var journeys = JSONValue.null
        for _ in 0..<100 {
            journeys = try JSONValue.parse(
                try await client.send(
                    method: "GET", url: "\(ingestor.apiURL)/v1/contacts/freq/journeys", headers: [("Authorization", "Bearer \(TestIngestor.readKey)")]
                ).body)
            if let all = journeys["journeys"]?.arrayValue, all.count == 3, all.allSatisfy({ $0["status"] != "active" }) { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(journeys["journeys"]?.arrayValue?.count == 3 && journeys["journeys"]?.arrayValue?.contains { $0["step"] == "skip" } == true, "\(journeys)")
        #expect(try await promos() == 2, "the third promo was sent despite two in the last two days")

        // DELETE erases the history with the journeys: the next promo goes out again.
        let deleted = try await client.send(
            method: "DELETE", url: "\(ingestor.apiURL)/v1/contacts/freq", headers: [("Authorization", "Bearer \(TestIngestor.adminKey)")])
        #expect(deleted.status == 204 || deleted.status == 404, "\(deleted.bodyText)")
        try await post(ingestor, [("promo-4", "promo_week_started", "freq")])
        _ = try await sends(broker) { s in s.filter { $0 == ("freq", "weekly-promo") }.count == 3 }
        #expect(try await promos() == 3)
        await scheduler.process.stop()
        await ingestor.process.stop()
        await redis.stop()
    }

    @Test("SIGKILL of the scheduler while journeys wait: after a restart every wake-up fires exactly once")
    func killWhileWaiting() async throws {
        let broker = try TestBroker.start(partitions: 4)
        let redis = try await TestRedisServer()
        let ingestor = try await TestIngestor(broker: broker, redis: redis)
        let first = try await TestWorker(.scheduler, broker: broker, redis: redis)
        try await publish(ingestor)
        try await Task.sleep(for: .seconds(1))
        let contacts = (0..<20).map { "k\($0)" }
        try await post(ingestor, contacts.map { ("kill-\($0)", "cart_abandoned", $0) })
        _ = try await sends(broker) { s in contacts.allSatisfy { c in s.contains { $0 == (c, "cart-1") } } }
        first.process.signal(SIGKILL)
        _ = await first.process.wait()
        let second = try await TestWorker(.scheduler, broker: broker, redis: redis)
        let seen = try await sends(broker, timeout: .seconds(60)) { s in contacts.allSatisfy { c in s.contains { $0 == (c, "cart-2") } } }
        try await Task.sleep(for: .seconds(2))
        let settled = try await sends(broker, timeout: .seconds(5)) { _ in false }
        for c in contacts {
            #expect(seen.contains { $0 == (c, "cart-2") }, "\(c) lost its wake-up")
            #expect(settled.filter { $0 == (c, "cart-2") }.count == 1, "\(c) got its reminder \(settled.filter { $0 == (c, "cart-2") }.count) times")
            #expect(settled.filter { $0 == (c, "cart-1") }.count == 1)
        }
        await second.process.stop()
        await ingestor.process.stop()
        await redis.stop()
    }

    @Test("two schedulers in one group: partitions move while journeys wait, and no wake-up is lost or fired twice")
    func twoSchedulers() async throws {
        let broker = try TestBroker.start(partitions: 4)
        let redis = try await TestRedisServer()
        let ingestor = try await TestIngestor(broker: broker, redis: redis)
        let first = try await TestWorker(.scheduler, broker: broker, redis: redis)
        // Waits long enough that the partitions move while every journey still waits.
        try await publish(ingestor, wait: "15s")
        try await Task.sleep(for: .seconds(1))
        let contacts = (0..<40).map { "two\($0)" }
        try await post(ingestor, contacts.map { ("two-\($0)", "cart_abandoned", $0) })
        _ = try await sends(broker) { s in contacts.allSatisfy { c in s.contains { $0 == (c, "cart-1") } } }
        // A second member joins while every journey waits: some partitions move to it.
        let second = try await TestWorker(.scheduler, broker: broker, redis: redis)
        var owns = false
        for _ in 0..<150 where !owns {
            owns =
                (try? await client.get("\(second.metricsURL)/metrics").bodyText.contains("herald_scheduler_wakeups_pending{worker=\"scheduler\",shard="))
                ?? false
            if !owns { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(owns, "the second scheduler got no shard")
        // Each shard's pending gauge is reported by its owner only: the first drops
        // the gauges of the shards it gave up (within its 5 s report), so summing
        // over pods counts no shard twice.
        func shards(_ worker: TestWorker) async -> Set<String> {
            let text = (try? await client.get("\(worker.metricsURL)/metrics").bodyText) ?? ""
            return Set(
                text.split(separator: "\n").filter { $0.hasPrefix("herald_scheduler_wakeups_pending{") }.compactMap {
                    $0.split(separator: "shard=\"").last?.split(separator: "\"").first.map(String.init)
                })
        }
        var overlap: Set<String> = ["?"]
        for _ in 0..<150 where !overlap.isEmpty {
            overlap = await shards(first).intersection(await shards(second))
            if !overlap.isEmpty { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(overlap.isEmpty, "shards reported by both schedulers: \(overlap)")
        let records = try await readTopic(Topics.sends, bootstrapServers: broker.bootstrapServers, timeout: .seconds(60)) { records in
            let s = records.compactMap(Self.decodeSend)
            return contacts.allSatisfy { c in s.contains { $0 == (c, "cart-2") } }
        }
        try await Task.sleep(for: .seconds(2))
        let all = try await readTopic(Topics.sends, bootstrapServers: broker.bootstrapServers, timeout: .seconds(5)) { _ in false }
        // Each reminder once (by idempotency key, which is what the sender deduplicates on).
        var keys: [String: Set<String>] = [:]
        for r in all {
            guard let v = try? JSONValue.parse(r.value), v["template"] == "cart-2", let c = v["contact_id"]?.stringValue, let k = v["id"]?.stringValue else {
                continue
            }
            keys[c, default: []].insert(k)
        }
        for c in contacts { #expect(keys[c]?.count == 1, "\(c): \(keys[c] ?? [])") }
        #expect(records.count >= contacts.count * 2)
        await second.process.stop()
        await first.process.stop()
        await ingestor.process.stop()
        await redis.stop()
    }

    @Test(
        "a scheduler stopped (SIGSTOP) past the session timeout in the middle of a backlog resumes with its old shards' wake-ups due: it writes nothing, takes no token, and each reminder goes out once"
    )
    func stalledScheduler() async throws {
        let broker = try TestBroker.start(partitions: 4)
        let redis = try await TestRedisServer()
        let ingestor = try await TestIngestor(broker: broker, redis: redis)
        let stale = try await TestWorker(.scheduler, broker: broker, redis: redis)
        let owner = try await TestWorker(.scheduler, broker: broker, redis: redis)
        func ownsShards(_ worker: TestWorker) async -> Bool {
            (try? await client.get("\(worker.metricsURL)/metrics").bodyText.contains("herald_scheduler_wakeups_pending{worker=\"scheduler\",shard="))
                ?? false
        }
        // A rebalance on a loaded machine (CI runs suites side by side) can take
        // several session timeouts; wait up to a minute for both to own shards.
        for _ in 0..<600 {
            if await ownsShards(stale), await ownsShards(owner) { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let staleOwns = await ownsShards(stale), ownerOwns = await ownsShards(owner)
        #expect(staleOwns && ownerOwns, "both schedulers should own shards")
        let wait = 30
        try await publish(ingestor, wait: "\(wait)s")
        try await Task.sleep(for: .seconds(1))
        let contacts = (0..<400).map { "stall\($0)" }
        let posted = ContinuousClock.now
        try await post(ingestor, contacts.map { ("stall-\($0)", "cart_abandoned", $0) })
        _ = try await sends(broker) { s in contacts.allSatisfy { c in s.contains { $0 == (c, "cart-1") } } }
        // A backlog of entries keeps both consumers inside their handlers: the
        // stale one is stopped in the middle of it, so when it resumes its
        // consumer cannot hear of the move before that batch is done.
        let backlog = (0..<6000).map { "busy\($0)" }
        for chunk in stride(from: 0, to: backlog.count, by: 1000) {
            try await post(ingestor, backlog[chunk..<chunk + 1000].map { ("busy-\($0)", "cart_abandoned", $0) })
        }
        print("stalledScheduler: backlog posted after \(ContinuousClock.now - posted)")
        // Stopped; the group (6 s session timeout) moves its shards to the other
        // scheduler, which takes their tokens. That one is paused for 2 s around
        // the moment the reminders fall due (too short to leave the group), and
        // the stale one resumes inside that pause, with the wake-ups of its old
        // shards due and unfired and its assignment not yet revoked.
        stale.process.signal(SIGSTOP)
        try await Task.sleep(until: posted + .seconds(wait - 1), clock: .continuous)
        owner.process.signal(SIGSTOP)
        try await Task.sleep(for: .milliseconds(1500))
        stale.process.signal(SIGCONT)
        try await Task.sleep(for: .milliseconds(500))
        owner.process.signal(SIGCONT)
        // Within the stale one's doubt (a session timeout from its resumption):
        // it fired no wake-up and took no token (its first claim and the owner's
        // are the only ones per shard).
        try await Task.sleep(for: .seconds(3))
        let staleMetrics = try await client.get("\(stale.metricsURL)/metrics").bodyText
        let fired =
            staleMetrics.split(separator: "\n").first { $0.hasPrefix("herald_scheduler_wakeup_lateness_seconds_count") }.flatMap {
                $0.split(separator: " ").last
            }.map(String.init) ?? "0"
        #expect(fired == "0", "the stale scheduler fired \(fired) wake-ups after it resumed")
        let pool = RedisPool(configuration: redis.configuration, logger: Logger(label: "test"))
        var epochs: [Int64] = []
        for shard in 0..<4 { epochs.append(try await pool.execute(["GET", "herald:epoch:\(Shard.hashTag(shard))"]).int ?? -1) }
        #expect(epochs.allSatisfy { $0 <= 2 }, "fencing tokens taken per shard: \(epochs)")
        _ = try await sends(broker, timeout: .seconds(90)) { s in contacts.allSatisfy { c in s.contains { $0 == (c, "cart-2") } } }
        try await Task.sleep(for: .seconds(3))
        let all = try await sends(broker, timeout: .seconds(5)) { _ in false }
        var reminders: [String: Int] = [:]
        for (c, t) in all where t == "cart-2" { reminders[c, default: 0] += 1 }
        let doubled = contacts.filter { (reminders[$0] ?? 0) > 1 }
        #expect(doubled.isEmpty, "\(doubled.count) reminders were fired by both schedulers, e.g. \(doubled.prefix(5))")
        #expect(contacts.allSatisfy { reminders[$0] == 1 })
        print("stalledScheduler: tokens per shard \(epochs), stale wake-ups \(fired)")
        await owner.process.stop()
        await stale.process.stop()
        await ingestor.process.stop()
        await redis.stop()
    }

    @Test(
        "a damaged stored journey whose wake-up falls due is counted and logged, moved to herald.dlq with its bytes, its wake-up cleared, and the shard goes on"
    )
    func damagedJourney() async throws {
        let broker = try TestBroker.start(partitions: 2)
        let redis = try await TestRedisServer()
        let pool = RedisPool(configuration: redis.configuration, logger: Logger(label: "test"))
        let contact = "damaged-1"
        let shard = Shard.of(contact, partitions: 2)
        _ = try await pool.execute(["HSET", "herald:j:\(Shard.hashTag(shard)):\(contact)", "c:1", "{not a journey"])
        _ = try await pool.execute(["ZADD", "herald:wake:\(Shard.hashTag(shard))", "1000", "\(contact)\u{1F}c:1"])
        let scheduler = try await TestWorker(.scheduler, broker: broker, redis: redis)
        var metrics = ""
        for _ in 0..<150 {
            metrics = try await client.get("\(scheduler.metricsURL)/metrics").bodyText
            if metrics.contains("herald_scheduler_unreadable_journeys_total{worker=\"scheduler\"} 1") { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(
            metrics.contains("herald_scheduler_unreadable_journeys_total{worker=\"scheduler\"} 1"),
            "\(metrics.split(separator: "\n").filter { $0.contains("unreadable") })")
        #expect(scheduler.log.contains("cannot read"))
        for _ in 0..<50 {
            if try await pool.execute(["ZCARD", "herald:wake:\(Shard.hashTag(shard))"]).int == 0 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(try await pool.execute(["ZCARD", "herald:wake:\(Shard.hashTag(shard))"]).int == 0, "the orphaned wake-up stays")
        // Its bytes are kept in herald.dlq, with where they were, and then deleted
        // (read again on every load otherwise).
        let dead = try await readTopic(Topics.dlq, bootstrapServers: broker.bootstrapServers) { !$0.isEmpty }
        let letter = try #require(dead.first)
        #expect(letter.value == Array("{not a journey".utf8) && letter.keyString == contact)
        #expect(letter.header("herald.source.topic") == Array("redis".utf8))
        #expect(letter.header("herald.source.redis_key") == Array("herald:j:\(Shard.hashTag(shard)):\(contact)".utf8))
        #expect(letter.header("herald.source.redis_field") == Array("c:1".utf8))
        #expect(try await pool.execute(["HLEN", "herald:j:\(Shard.hashTag(shard)):\(contact)"]).int == 0, "the damaged journey stays after its dead letter")
        metrics = try await client.get("\(scheduler.metricsURL)/metrics").bodyText
        #expect(
            metrics.contains(#"herald_dlq_records_total{worker="scheduler",topic="redis",reason="undecodable"} 1"#),
            "\(metrics.split(separator: "\n").filter { $0.contains("dlq") })")
        await pool.close()
        await scheduler.process.stop()
        await redis.stop()
    }

    @Test("a contact whose wake-ups keep failing is moved to herald.dlq after kafka.max_attempts tries; the other contacts of its shard go on")
    func poisonWakeUp() async throws {
        // One partition: both contacts share the shard, and so its wake-up batches.
        let broker = try TestBroker.start(partitions: 1)
        let redis = try await TestRedisServer()
        let pool = RedisPool(configuration: redis.configuration, logger: Logger(label: "test"))
        let ingestor = try await TestIngestor(broker: broker, redis: redis)
        let scheduler = try await TestWorker(.scheduler, broker: broker, redis: redis, extraEnvironment: ["HERALD_KAFKA_MAX_ATTEMPTS": "2"])
        try await publish(ingestor, wait: "4s")
        // Eve first: her wake-up falls due first, and every batch after it holds her.
        try await post(ingestor, [("p-1", "cart_abandoned", "eve")])
        try await Task.sleep(for: .milliseconds(300))
        try await post(ingestor, [("p-2", "cart_abandoned", "ann")])
        _ = try await sends(broker) { s in s.contains { $0 == ("eve", "cart-1") } && s.contains { $0 == ("ann", "cart-1") } }
        // Once Eve waits, her message history becomes a string: every load of her
        // fails with WRONGTYPE, an error of her data, not an outage.
        let wake = "herald:wake:\(Shard.hashTag(0))"
        var member: String?
        for _ in 0..<50 {
            let flat = try await pool.execute(["ZRANGE", wake, "0", "-1"]).array ?? []
            member = flat.compactMap(\.string).first { $0.hasPrefix("eve\u{1F}") }
            if member != nil { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let eveMember = try #require(member, "Eve's journey never waited")
        _ = try await pool.pipeline([["DEL", "herald:msg:\(Shard.hashTag(0)):eve"], ["SET", "herald:msg:\(Shard.hashTag(0)):eve", "damaged"]])
        let seen = try await sends(broker) { s in s.contains { $0 == ("ann", "cart-2") } }
        #expect(seen.contains { $0 == ("ann", "cart-2") }, "Ann's wake-up waited behind Eve's: \(seen)")
        #expect(!seen.contains { $0 == ("eve", "cart-2") })
        let dead = try await readTopic(Topics.dlq, bootstrapServers: broker.bootstrapServers) { !$0.isEmpty }
        let letter = try #require(dead.first)
        let instance = String(eveMember.split(separator: "\u{1F}")[1])
        #expect(letter.keyString == "eve" && letter.header("herald.source.redis_field") == Array(instance.utf8))
        let reason = String(decoding: letter.header("herald.error.reason") ?? [], as: UTF8.self)
        #expect(reason.contains("wake-up failed 2 times") && reason.contains("WRONGTYPE"), "\(reason)")
        // The letter holds the journey as stored; the journey stays, its wake-up is gone.
        #expect(try JourneyInstance(decoding: letter.value).contactId == "eve")
        #expect(try await pool.execute(["ZSCORE", wake, eveMember]) == .null)
        #expect(try await pool.execute(["HEXISTS", "herald:j:\(Shard.hashTag(0)):eve", instance]).int == 1)
        let metrics = try await client.get("\(scheduler.metricsURL)/metrics").bodyText
        #expect(
            metrics.contains(#"herald_dlq_records_total{worker="scheduler",topic="redis",reason="failed"} 1"#),
            "\(metrics.split(separator: "\n").filter { $0.contains("dlq") })")
        await pool.close()
        await scheduler.process.stop()
        await ingestor.process.stop()
        await redis.stop()
    }

    @Test("anniversary trigger: the daily sweep enters contacts whose birthday is today, once, from the index")
    func birthdaySweep() async throws {
        let broker = try TestBroker.start(partitions: 4)
        let redis = try await TestRedisServer()
        let ingestor = try await TestIngestor(broker: broker, redis: redis)
        let scheduler = try await TestWorker(.scheduler, broker: broker, redis: redis, extraEnvironment: ["HERALD_SCHEDULER_SWEEP_INTERVAL": "1s"])
        let campaign =
            "id: e2e-birthday\nlist: shop\ntimezone: UTC\nentry: parallel\ntriggers:\n  - anniversary: {attribute: birthday, at: \"00:00\"}\nsteps:\n  - id: wish\n    send: {channel: email, template: birthday, category: birthday}\n"
        let published = try await client.send(
            method: "POST", url: "\(ingestor.apiURL)/v1/campaigns/e2e-birthday/publish",
            headers: [("Authorization", "Bearer \(TestIngestor.adminKey)"), ("Content-Type", "application/yaml")], body: Array(campaign.utf8))
        #expect(published.status == 200, "\(published.bodyText)")
        let today = String(RFC3339.format(milliseconds: Int64(Date().timeIntervalSince1970 * 1000)).prefix(10))
        let otherDay = today.hasSuffix("-15") ? "1985-01-16" : "1985-01-15"
        for (id, birthday) in [("bday-today", "1990" + today.dropFirst(4)), ("bday-other", otherDay)] {
            let r = try await client.send(
                method: "PUT", url: "\(ingestor.apiURL)/v1/contacts/\(id)",
                headers: [("Authorization", "Bearer \(TestIngestor.adminKey)"), ("Content-Type", "application/json")],
                body: Array(#"{"attributes":{"birthday":"\#(birthday)"}}"#.utf8))
            #expect(r.status == 200)
        }
        _ = try await sends(broker) { s in s.contains { $0 == ("bday-today", "birthday") } }
        try await Task.sleep(for: .seconds(3))  // several more sweeps
        let all = try await sends(broker, timeout: .seconds(5)) { _ in false }
        #expect(all.filter { $0 == ("bday-today", "birthday") }.count == 1, "\(all)")
        #expect(!all.contains { $0.0 == "bday-other" })
        let metrics = try await client.get("\(scheduler.metricsURL)/metrics").bodyText
        #expect(metrics.contains("herald_scheduler_sweep_duration_seconds_count"))
        await scheduler.process.stop()
        await ingestor.process.stop()
        await redis.stop()
    }
}

import Foundation
import Glibc
import HeraldChannels
import HeraldCore
import HeraldDevTools
import HeraldService
import HeraldTestSupport
import Testing

@Suite("Sales alerts end to end (herald-alerter → herald.sends → herald-sender → SMTP)", .serialized, .timeLimit(.minutes(4)))
struct AlertTests {
    let client = HTTPClient(concurrency: 2)
    let admin = [("Authorization", "Bearer \(TestIngestor.adminKey)"), ("Content-Type", "application/yaml")]

    func alerter(_ broker: TestBroker, _ redis: TestRedisServer, rulesDir: String, sessionTimeout: String = "30m") async throws -> TestWorker {
        try await TestWorker(
            .alerter, broker: broker, redis: redis,
            extraEnvironment: [
                "HERALD_ALERTS_DIR": rulesDir, "HERALD_ALERTS_TEMPLATES_DIR": "\(BuiltProducts.packageRoot)/config/templates/alerts",
                "HERALD_ALERTS_SESSION_TIMEOUT": sessionTimeout,
            ])
    }

    func sender(_ broker: TestBroker, _ redis: TestRedisServer, _ sink: TestSMTPSink) async throws -> TestWorker {
        try await TestWorker(
            .sender, broker: broker, redis: redis,
            extraEnvironment: [
                "HERALD_SENDER_SMTP_SERVER": "127.0.0.1:\(sink.port)", "HERALD_SENDER_TEMPLATES_DIR": "\(BuiltProducts.packageRoot)/config/templates",
            ])
    }

    func putContact(_ ingestor: TestIngestor, _ id: String, _ body: String) async throws {
        let r = try await client.send(
            method: "PUT", url: "\(ingestor.apiURL)/v1/contacts/\(id)",
            headers: [("Authorization", "Bearer \(TestIngestor.adminKey)"), ("Content-Type", "application/json")], body: Array(body.utf8))
        #expect(r.status == 200, "\(r.bodyText)")
    }

    /// Posts events in order; `at` is seconds after `t0`.
    func post(_ ingestor: TestIngestor, _ events: [(id: String, type: String, contact: String, at: Int64, properties: JSONValue)], t0: Int64) async throws {
        let body: JSONValue = [
            "events": .array(
                events.map {
                    [
                        "id": .string($0.id), "type": .string($0.type), "contact_id": .string($0.contact),
                        "timestamp": .string(RFC3339.format(milliseconds: t0 + $0.at * 1000)), "properties": $0.properties,
                    ]
                })
        ]
        let r = try await client.postJSON("\(ingestor.apiURL)/v1/events", body.serialized(), headers: [("Authorization", "Bearer \(TestIngestor.apiKey)")])
        #expect(r.status == 202, "\(r.bodyText)")
    }

    /// Waits until the sink holds `count` alert emails (and a moment more, for any extra).
    func alertEmails(_ sink: TestSMTPSink, count: Int, timeout: Duration = .seconds(40)) async throws -> [String] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline, sink.messages().filter({ $0.contains("X-Herald-Send-Id: alert:") }).count < count {
            try await Task.sleep(for: .milliseconds(200))
        }
        try await Task.sleep(for: .seconds(2))
        return sink.messages().filter { $0.contains("X-Herald-Send-Id: alert:") }
    }

    /// The time visits are dated from: about three minutes ago, inside the
    /// alerter's five-minute bound on client clocks (`AlertClock`), and moved
    /// forward so that `span` seconds from it cross no 15-minute UTC boundary —
    /// every time zone's midnight falls on one, so no run straddles two days of
    /// a daily cap.
    static func recentStart(span: Int64) -> Int64 {
        let quarter: Int64 = 900_000
        let t0 = Int64(Date().timeIntervalSince1970 * 1000) - 200_000
        let boundary = (t0 / quarter + 1) * quarter
        return t0 + span * 1000 < boundary ? t0 : boundary
    }

    /// The decoded text of every base64 part of a message.
    static func decodedParts(_ mail: String) -> String {
        var out = ""
        for chunk in mail.components(separatedBy: "Content-Transfer-Encoding: base64\r\n\r\n").dropFirst() {
            let encoded = chunk.components(separatedBy: "\r\n--").first ?? ""
            if let data = Data(base64Encoded: encoded.replacingOccurrences(of: "\r\n", with: "")) { out += String(decoding: data, as: UTF8.self) + "\n" }
        }
        return out
    }

    @Test(
        "page views alert the right people with the contact's details and recent activity; dwell, caps, a disabled rule, owner-less contacts, stats and the latency histogram"
    )
    func alerts() async throws {
        let broker = try TestBroker.start(partitions: 4)
        let redis = try await TestRedisServer()
        let sink = try await TestSMTPSink()
        let ingestor = try await TestIngestor(broker: broker, redis: redis)
        // One rule from a file (imported at start), two over the API.
        let rulesDir = try temporaryDirectory("alerts")
        try """
        name: Pricing
        created_by: anna@sales.example
        time_zone: Europe/Warsaw
        pages: [{url: 'https://shop.example/pricing', min_time: 2s}]
        frequency: once a day
        recipients: {me: true, owner: true, cc: [boss@sales.example]}
        description: Reading prices right now.
        attachment: {filename: contact.csv, format: csv, template: "name,company\\n{{contact_name}},{{contact.attributes.company}}"}
        """.write(toFile: "\(rulesDir)/pricing.yaml", atomically: true, encoding: .utf8)
        let alerter = try await alerter(broker, redis, rulesDir: rulesDir)
        let sender = try await sender(broker, redis, sink)

        let products = try await client.send(
            method: "POST", url: "\(ingestor.apiURL)/v1/alerts", headers: admin,
            body: Array(
                """
                name: Products
                pages: ['https://shop.example/products/**']
                frequency: {times: 2, per: day}
                recipients: {owner: true}
                """.utf8))
        #expect(products.status == 201, "\(products.bodyText)")
        #expect(try JSONValue.parse(products.body)["summary"]?.stringValue?.contains("at most 2 times a day") == true)
        let everything = try await client.send(
            method: "PUT", url: "\(ingestor.apiURL)/v1/alerts/everything", headers: admin,
            body: Array(
                """
                name: Everything
                pages: ['shop.example/**']
                recipients: {cc: [watcher@sales.example]}
                """.utf8))
        #expect(everything.status == 201, "\(everything.bodyText)")
        #expect(try await client.send(method: "POST", url: "\(ingestor.apiURL)/v1/alerts/everything/disable", headers: admin, body: nil).status == 200)
        // Owner and CC: a contact without an owner still reaches the CC.
        let cart = try await client.send(
            method: "PUT", url: "\(ingestor.apiURL)/v1/alerts/cart", headers: admin,
            body: Array(
                """
                name: Cart
                pages: ['shop.example/cart']
                recipients: {owner: true, cc: [desk@sales.example]}
                """.utf8))
        #expect(cart.status == 201, "\(cart.bodyText)")
        // Invalid: named field and reason; nothing saved.
        let bad = try await client.send(
            method: "POST", url: "\(ingestor.apiURL)/v1/alerts", headers: admin,
            body: Array("name: Bad\npages: ['shop.example/x']\nrecipients: {cc: [nope]}".utf8))
        #expect(bad.status == 422 && (try? JSONValue.parse(bad.body))?["field"] == "recipients.cc[0]", "\(bad.bodyText)")
        #expect(try await client.send(method: "POST", url: "\(ingestor.apiURL)/v1/alerts", headers: [], body: Array("name: x".utf8)).status == 401)
        try await Task.sleep(for: .seconds(2))  // alerters reload rules within a second

        try await putContact(
            ingestor, "vera",
            #"{"email":"vera@customer.example","phone":"+420601234567","owner":"olaf@sales.example","tags":["vip"],"attributes":{"first_name":"Věra","last_name":"Nováková","company":"Acme s.r.o.","city":"Brno"}}"#
        )
        try await putContact(ingestor, "nobody", #"{"email":"n@customer.example"}"#)
        let t0 = Self.recentStart(span: 40)
        let run = uniqueName("ev")
        try await post(
            ingestor,
            [
                ("\(run)-1", "purchase", "vera", 0, ["order_id": "O-77", "total": 120]),
                ("\(run)-2", "page_visited", "vera", 1, ["url": "https://shop.example/products/shoes?utm_source=mail"]),
                ("\(run)-3", "page_visited", "vera", 2, ["url": "https://shop.example/products/hats/"]),
                ("\(run)-4", "page_visited", "vera", 3, ["url": "https://shop.example/products/socks"]),  // third today: over the cap of 2
                ("\(run)-5", "page_visited", "vera", 4, ["url": "https://shop.example/pricing"]),
                ("\(run)-6", "page_visited", "vera", 11, ["url": "https://shop.example/about"]),  // 7 s on pricing: alert
                ("\(run)-7", "page_visited", "vera", 20, ["url": "https://shop.example/pricing"]),
                ("\(run)-8", "page_visited", "vera", 21, ["url": "https://shop.example/contact"]),  // 1 s: too short
                ("\(run)-9", "page_visited", "vera", 30, ["url": "https://shop.example/pricing"]),
                ("\(run)-10", "page_left", "vera", 40, ["url": "https://shop.example/pricing"]),  // 10 s, but once a day: suppressed
                ("\(run)-11", "page_visited", "nobody", 5, ["url": "https://shop.example/products/x"]),  // owner-only rule, no owner: nothing
                ("\(run)-12", "page_visited", "nobody", 6, ["url": "https://shop.example/cart"]),  // owner + CC, no owner: CC only
            ], t0: t0)

        // Products ×2 to the owner; Pricing once to me, the owner and CC; Cart to its CC.
        let mails = try await alertEmails(sink, count: 6)
        func to(_ address: String) -> [String] { mails.filter { $0.contains("To: <\(address)>") } }
        #expect(mails.count == 6, "\(mails.count) alert emails\n\(alerter.log)")
        #expect(to("desk@sales.example").count == 1 && to("desk@sales.example").first?.contains("X-Herald-Send-Id: alert:cart:nobody:") == true)
        #expect(to("olaf@sales.example").count == 3 && to("anna@sales.example").count == 1 && to("boss@sales.example").count == 1)
        #expect(to("watcher@sales.example").isEmpty && to("n@customer.example").isEmpty)
        let pricing = try #require(to("boss@sales.example").first)
        let body = Self.decodedParts(pricing)
        for part in [
            "Reading prices right now.", "https://shop.example/pricing", "Věra Nováková", "Acme s.r.o.", "Brno", "+420601234567", "olaf@sales.example", "vip",
            "purchase", "order_id=O-77", "https://shop.example/products/shoes", "on the page for 7 s",
        ] {
            #expect(body.contains(part), "'\(part)' missing from the alert:\n\(body)")
        }
        #expect(pricing.contains("filename=\"contact.csv\"") && body.contains("name,company\nVěra Nováková,Acme s.r.o."), "\(body)")
        #expect(!pricing.contains("List-Unsubscribe"))  // colleagues, not marketing
        // An alert on the view itself has no time on the page to report.
        let product = try #require(to("olaf@sales.example").first { $0.contains("X-Herald-Send-Id: alert:products:") })
        #expect(!Self.decodedParts(product).contains("on the page for"), "\(Self.decodedParts(product))")

        // Analytics.
        let stats = try JSONValue.parse(try await client.get("\(ingestor.apiURL)/v1/alerts/pricing/stats?days=3", headers: admin).body)
        #expect(stats["total"] == ["matched": 3, "sent": 1, "suppressed": 1, "too_short": 1, "no_recipient": 0], "\(stats)")
        let productStats = try JSONValue.parse(try await client.get("\(ingestor.apiURL)/v1/alerts/products/stats", headers: admin).body)
        #expect(productStats["total"]?["sent"] == 2 && productStats["total"]?["suppressed"] == 1 && productStats["total"]?["matched"] == 4, "\(productStats)")
        #expect(productStats["total"]?["no_recipient"] == 1, "\(productStats)")
        // The hand-off latency histogram counts every alert email.
        let metrics = try await client.get("\(sender.metricsURL)/metrics").bodyText
        let count = metrics.split(separator: "\n").first { $0.hasPrefix("herald_alert_latency_seconds_count") }
        #expect(count?.hasSuffix(" 6") == true, "\(count ?? "no herald_alert_latency_seconds_count")")
        // The list shows every rule with its switch.
        let list = try JSONValue.parse(try await client.get("\(ingestor.apiURL)/v1/alerts", headers: admin).body)
        #expect(
            list["alerts"]?.arrayValue?.map { "\($0["id"]?.stringValue ?? ""):\($0["enabled"] == true)" } == [
                "cart:true", "everything:false", "pricing:true", "products:true",
            ])

        #expect(await alerter.process.stop() == 0, "herald-alerter did not stop gracefully on SIGTERM")
        #expect(await sender.process.stop() == 0, "herald-sender did not stop gracefully on SIGTERM")
        await ingestor.process.stop()
        await sink.stop()
        await redis.stop()
    }

    @Test("two alerters, one SIGKILLed mid-stream: every contact gets exactly its cap of alerts, never more; a visit with no next view times out as too short")
    func capsAcrossAlerters() async throws {
        let broker = try TestBroker.start(partitions: 4)
        let redis = try await TestRedisServer()
        let sink = try await TestSMTPSink()
        let ingestor = try await TestIngestor(broker: broker, redis: redis)
        let rulesDir = try temporaryDirectory("alerts")
        try "name: Cap3\npages: ['shop.example/p/**']\nfrequency: 3 per day\nrecipients: {cc: [team@sales.example]}\n"
            .write(toFile: "\(rulesDir)/cap3.yaml", atomically: true, encoding: .utf8)
        try "name: Reader\npages: [{url: 'shop.example/read', min_time: 1s}]\nrecipients: {cc: [reader@sales.example]}\n"
            .write(toFile: "\(rulesDir)/reader.yaml", atomically: true, encoding: .utf8)
        let first = try await alerter(broker, redis, rulesDir: rulesDir, sessionTimeout: "2s")
        let second = try await alerter(broker, redis, rulesDir: rulesDir, sessionTimeout: "2s")
        let sender = try await sender(broker, redis, sink)
        let contacts = (0..<20).map { "shopper\($0)" }
        let run = uniqueName("cap")
        let t0 = Self.recentStart(span: 70)
        for round in 0..<8 {
            try await post(
                ingestor,
                contacts.map { c in ("\(run)-\(c)-\(round)", "page_visited", c, Int64(round * 10), ["url": .string("https://shop.example/p/\(round)")]) },
                t0: t0)
            if round == 2 { first.process.signal(SIGKILL) }  // its partitions move to the other alerter, uncommitted batches replay
        }
        // A view with nothing after it: the session times out; its minimum is never reached.
        try await post(
            ingestor, [("\(run)-lonely", "page_visited", "lonely", 0, ["url": "https://shop.example/read"])], t0: Int64(Date().timeIntervalSince1970 * 1000))

        let mails = try await alertEmails(sink, count: 60, timeout: .seconds(60))
        var perContact: [String: Int] = [:]
        var ids: [String: Int] = [:]
        for mail in mails {
            guard let line = mail.split(separator: "\r\n").first(where: { $0.hasPrefix("X-Herald-Send-Id: ") }) else { continue }
            let id = String(line.dropFirst(18))
            ids[id, default: 0] += 1
            perContact[id.split(separator: ":")[2].description, default: 0] += 1
        }
        #expect(ids.values.allSatisfy { $0 == 1 }, "an alert email arrived twice: \(ids.filter { $0.value > 1 })")
        #expect(contacts.allSatisfy { perContact[$0] == 3 }, "\(perContact)\n\(second.log)")
        #expect(mails.filter { $0.contains("To: <reader@sales.example>") }.isEmpty)
        // The sweep decided the lonely visit (2 s timeout + 2 s grace).
        var tooShort: JSONValue?
        for _ in 0..<40 {
            let stats = try JSONValue.parse(try await client.get("\(ingestor.apiURL)/v1/alerts/reader/stats?days=2", headers: admin).body)
            tooShort = stats["total"]?["too_short"]
            if tooShort == 1 { break }
            try await Task.sleep(for: .milliseconds(250))
        }
        #expect(tooShort == 1)
        let capStats = try JSONValue.parse(try await client.get("\(ingestor.apiURL)/v1/alerts/cap3/stats?days=2", headers: admin).body)
        #expect(capStats["total"]?["sent"] == 60, "\(capStats)")

        _ = await first.process.wait()
        await second.process.stop()
        await sender.process.stop()
        await ingestor.process.stop()
        await sink.stop()
        await redis.stop()
    }

    /// Runs `heraldctl` with `arguments`; returns its exit status and output.
    func heraldctl(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        let dir = try temporaryDirectory("heraldctl")
        let cli = try ChildProcess(executable: try BuiltProducts.executable("heraldctl"), arguments: arguments, output: .file("\(dir)/out"))
        let status = await cli.wait()
        return (status, (try? String(contentsOfFile: "\(dir)/out", encoding: .utf8)) ?? "")
    }

    @Test("heraldctl alerts: validate names file, field and reason; create shows the summary and saves; disable, list, stats, show")
    func cli() async throws {
        let broker = try TestBroker.start(partitions: 2)
        let redis = try await TestRedisServer()
        let ingestor = try await TestIngestor(broker: broker, redis: redis)
        let dir = try temporaryDirectory("rules")
        try "name: Demo pricing\npages: [{url: 'shop.example/pricing', min_time: 1m}]\nfrequency: 2 per week\nrecipients: {owner: true}\n"
            .write(toFile: "\(dir)/good.yaml", atomically: true, encoding: .utf8)
        try "name: Broken\npages: ['shop.example/x']\nrecipients: {cc: [not-an-address]}\n".write(toFile: "\(dir)/bad.yaml", atomically: true, encoding: .utf8)
        let admin = ["--api", ingestor.apiURL, "--admin-key", TestIngestor.adminKey]

        let validate = try await heraldctl(["alerts", "validate", "\(dir)/good.yaml", "\(dir)/bad.yaml"])
        #expect(validate.status != 0)
        #expect(
            validate.output.contains("good.yaml: ok") && validate.output.contains("after at least 1 min on the page")
                && validate.output.contains("at most 2 times a week"), "\(validate.output)")
        #expect(validate.output.contains("bad.yaml: recipients.cc[0]: 'not-an-address' is not an email address"), "\(validate.output)")

        let create = try await heraldctl(["alerts", "create", "\(dir)/good.yaml", "--yes"] + admin)
        #expect(create.status == 0, "\(create.output)")
        #expect(create.output.contains("Alert 'Demo pricing' (demo-pricing) — ON") && create.output.contains("\"id\":\"demo-pricing\""), "\(create.output)")
        #expect(try await heraldctl(["alerts", "create", "\(dir)/bad.yaml", "--yes"] + admin).status != 0)

        #expect(try await heraldctl(["alerts", "disable", "demo-pricing"] + admin).status == 0)
        let list = try await heraldctl(["alerts", "list"] + admin)
        #expect(list.status == 0 && list.output.contains("\"enabled\":false") && !list.output.contains("broken"), "\(list.output)")
        let stats = try await heraldctl(["alerts", "stats", "demo-pricing", "--days", "2"] + admin)
        #expect(stats.status == 0 && stats.output.contains("\"days\""), "\(stats.output)")
        #expect(try await heraldctl(["alerts", "show", "no-such-rule"] + admin).status != 0)
        #expect(try await heraldctl(["alerts", "delete", "demo-pricing"] + admin).status == 0)
        #expect(try await heraldctl(["alerts", "show", "demo-pricing"] + admin).status != 0)

        await ingestor.process.stop()
        await redis.stop()
    }
}

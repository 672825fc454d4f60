import Foundation
import Glibc
import HeraldChannels
import HeraldCore
import HeraldDevTools
import HeraldRedis
import HeraldTestSupport
import Logging
import Testing

/// Broadcasts end to end: a real ingestor (API and planner), a real sender, the
/// WhatsApp sandbox counting calls per recipient.
@Suite("Broadcasts", .serialized, .timeLimit(.minutes(4)))
struct BroadcastTests {
    let client = HTTPClient(concurrency: 2)

    func call(_ ingestor: TestIngestor, _ method: String, _ path: String, _ body: String? = nil) async throws -> (status: Int, json: JSONValue) {
        let r = try await client.send(
            method: method, url: "\(ingestor.apiURL)\(path)",
            headers: [("Authorization", "Bearer \(TestIngestor.adminKey)"), ("Content-Type", "application/json")], body: body.map { Array($0.utf8) })
        return (r.status, (try? JSONValue.parse(string: r.bodyText)) ?? .null)
    }

    func putContacts(_ ingestor: TestIngestor, _ ids: [String], tags: [String] = ["vip"], firstPhone: Int = 0) async throws {
        for (j, c) in ids.enumerated() {
            let i = firstPhone + j
            let tagList = tags.map { "\"\($0)\"" }.joined(separator: ",")
            let r = try await call(ingestor, "PUT", "/v1/contacts/\(c)", #"{"phone":"+42060\#(String(format: "%07d", i))","tags":[\#(tagList)]}"#)
            #expect(r.status == 200, "\(r.json)")
        }
    }

    func syncTemplates(_ sandbox: TestSandboxProvider, _ redis: TestRedisServer) async throws {
        let dir = try temporaryDirectory("sync")
        let cli = try ChildProcess(
            executable: try BuiltProducts.executable("heraldctl"),
            arguments: ["templates", "sync", "--api-url", sandbox.url, "--redis-port", String(redis.port)], output: .file("\(dir)/out"))
        #expect(await cli.wait() == 0)
    }

    /// The broadcast as `GET /v1/broadcasts/{id}` shows it, once `until` holds (or the last one read).
    func show(_ ingestor: TestIngestor, _ id: String, timeout: Duration = .seconds(30), until: (JSONValue) -> Bool) async throws -> JSONValue {
        let deadline = ContinuousClock.now + timeout
        var last: JSONValue = .null
        while ContinuousClock.now < deadline {
            last = try await call(ingestor, "GET", "/v1/broadcasts/\(id)").json
            if until(last) { return last }
            try await Task.sleep(for: .milliseconds(100))
        }
        return last
    }

    /// Provider calls per send id.
    func calls(_ sandbox: TestSandboxProvider) async throws -> [String: Int] {
        var out: [String: Int] = [:]
        for r in try await sandbox.requests() where r["api"] == "whatsapp" {
            if let id = r["body"]?["biz_opaque_callback_data"]?.stringValue.flatMap(MessageReference.init(text:))?.sendId { out[id, default: 0] += 1 }
        }
        return out
    }

    /// Every recipient listed through `GET /{id}/recipients`, `limit` a page.
    func recipients(_ ingestor: TestIngestor, _ id: String, state: String? = nil, limit: Int = 7) async throws -> [JSONValue] {
        var out: [JSONValue] = []
        var cursor: String?
        repeat {
            var path = "/v1/broadcasts/\(id)/recipients?limit=\(limit)"
            if let state { path += "&state=\(state)" }
            if let cursor { path += "&cursor=\(cursor)" }
            let page = try await call(ingestor, "GET", path)
            #expect(page.status == 200, "\(page.json)")
            out += page.json["recipients"]?.arrayValue ?? []
            cursor = page.json["next_cursor"]?.stringValue
        } while cursor != nil
        return out
    }

    /// Runs `heraldctl broadcasts …` against the ingestor: its exit status and output.
    func cli(_ ingestor: TestIngestor, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        let dir = try temporaryDirectory("cli")
        let p = try ChildProcess(
            executable: try BuiltProducts.executable("heraldctl"),
            arguments: ["broadcasts"] + arguments + ["--api", ingestor.apiURL, "--admin-key", TestIngestor.adminKey], output: .file("\(dir)/out"))
        let status = await p.wait()
        return (status, (try? String(contentsOfFile: "\(dir)/out", encoding: .utf8)) ?? "")
    }

    func senderEnvironment(_ sandbox: TestSandboxProvider, _ ingestor: TestIngestor, _ extra: [String: String] = [:]) -> [String: String] {
        [
            "HERALD_SENDER_TEMPLATES_DIR": "\(BuiltProducts.packageRoot)/config/templates", "HERALD_SENDER_WHATSAPP_API_URL": sandbox.url,
            "HERALD_SENDER_PUBLIC_URL": ingestor.apiURL,
        ].merging(extra) { _, b in b }
    }

    @Test("a WhatsApp broadcast to a filter: every recipient initial before the start and listed once; one provider call each; finished; bad ones refused")
    func wholeBroadcast() async throws {
        let broker = try TestBroker.start(partitions: 4)
        let redis = try await TestRedisServer()
        let ingestor = try await TestIngestor(broker: broker, redis: redis)
        let sandbox = try await TestSandboxProvider()
        let sender = try await TestWorker(.sender, broker: broker, redis: redis, extraEnvironment: senderEnvironment(sandbox, ingestor))
        try await syncTemplates(sandbox, redis)
        let vip = (0..<30).map { "v\($0)" }
        try await putContacts(ingestor, vip)
        try await putContacts(ingestor, ["o1", "o2"], tags: ["other"])
        // Refusals name the field.
        let bad = try await call(ingestor, "POST", "/v1/broadcasts", #"{"id":"x","channel":"fax","template":"t","audience":{}}"#)
        #expect(bad.status == 422 && bad.json["field"] == "channel", "\(bad.json)")
        let badWhere = try await call(ingestor, "POST", "/v1/broadcasts", #"{"id":"x","channel":"sms","template":"t","audience":{"where":"nonsense: 1"}}"#)
        #expect(badWhere.status == 422 && badWhere.json["field"] == "audience.where", "\(badWhere.json)")
        let unknown = try await call(ingestor, "POST", "/v1/broadcasts", #"{"id":"x","channel":"sms","template":"t","audience":{},"send_at":"now"}"#)
        #expect(unknown.status == 400 && unknown.json["field"] == "send_at", "\(unknown.json)")

        let created = try await call(
            ingestor, "POST", "/v1/broadcasts",
            #"{"id":"spring","name":"Spring sale","channel":"whatsapp","template":"order-update","audience":{"tag":"vip"}}"#)
        #expect(created.status == 201 && created.json["state"] == "draft", "\(created.json)")
        #expect(try await call(ingestor, "POST", "/v1/broadcasts", #"{"id":"spring","channel":"sms","template":"t","audience":{}}"#).status == 409)
        // The planner adds the audience: every recipient initial, nothing sent.
        let planned = try await show(ingestor, "spring") { $0["adding"] == false }
        #expect(planned["recipients"] == .int(30) && planned["counts"] == ["initial": 30], "\(planned)\n\(ingestor.log)")
        let listed = try await recipients(ingestor, "spring", state: "initial")
        #expect(listed.count == 30 && Set(listed.compactMap { $0["contact_id"]?.stringValue }) == Set(vip), "listed once each: \(listed.count)")
        try await Task.sleep(for: .seconds(1))
        #expect(try await calls(sandbox).isEmpty, "a draft sends nothing")

        let csv = try await cli(ingestor, ["recipients", "spring", "--state", "initial"])
        let lines = csv.output.split(separator: "\r\n")
        #expect(csv.status == 0 && lines.count == 31 && lines[0] == "contact_id,send_id,state,reason,next_attempt,updated", "\(csv)")
        #expect(try await cli(ingestor, ["do", "start", "spring"]).status == 0)
        let finished = try await show(ingestor, "spring") { $0["state"] == "finished" }
        #expect(finished["state"] == "finished", "\(finished)\n\(sender.log)")
        let got = try await calls(sandbox)
        #expect(Set(got.keys) == Set(vip.map { "bc:spring:\($0)" }) && got.values.allSatisfy { $0 == 1 }, "\(got)")
        let progress = finished["progress"]
        #expect(progress?["total"] == .int(30) && progress?["done"] == .int(30), "\(finished)")
        #expect(try await call(ingestor, "POST", "/v1/broadcasts/spring/start").status == 409, "a finished broadcast does not start again")
        #expect(try await cli(ingestor, ["do", "resume", "spring"]).status != 0, "the CLI fails on a refusal")
        let watched = try await cli(ingestor, ["watch", "spring"])
        #expect(watched.status == 0 && (watched.output.contains("\"read\"") || watched.output.contains("\"sent\"")), "\(watched)")
        #expect(try await call(ingestor, "POST", "/v1/broadcasts/spring/recipients", #"{"audience":{"tag":"other"}}"#).status == 409)
        let list = try await call(ingestor, "GET", "/v1/broadcasts")
        #expect(list.json["broadcasts"]?.arrayValue?.first?["id"] == "spring")
        await sender.process.stop()
        await ingestor.process.stop()
        await sandbox.stop()
        await redis.stop()
    }

    @Test(
        "pause and resume under load, more recipients added while running, then cancel: no call while paused, none twice, the rest cancelled by the administrator"
    )
    func pauseResumeCancel() async throws {
        let broker = try TestBroker.start(partitions: 4)
        let redis = try await TestRedisServer()
        let ingestor = try await TestIngestor(broker: broker, redis: redis)
        let sandbox = try await TestSandboxProvider()
        // 10 a second: the broadcast lasts long enough to pause, resume and cancel it mid-way.
        let sender = try await TestWorker(
            .sender, broker: broker, redis: redis, extraEnvironment: senderEnvironment(sandbox, ingestor, ["HERALD_LIMITS_WHATSAPP_PER_SECOND": "10"]))
        try await syncTemplates(sandbox, redis)
        let first = (0..<80).map { "p\($0)" }, more = (0..<40).map { "q\($0)" }
        try await putContacts(ingestor, first)
        try await putContacts(ingestor, more, tags: ["late"])
        #expect(
            try await call(ingestor, "POST", "/v1/broadcasts", #"{"id":"slow","channel":"whatsapp","template":"order-update","audience":{"tag":"vip"}}"#)
                .status == 201)
        _ = try await show(ingestor, "slow") { $0["adding"] == false }
        #expect(try await call(ingestor, "POST", "/v1/broadcasts/slow/start").status == 200)
        func waitCalls(atLeast n: Int) async throws -> Int {
            for _ in 0..<300 {
                let c = try await calls(sandbox).count
                if c >= n { return c }
                try await Task.sleep(for: .milliseconds(50))
            }
            return try await calls(sandbox).count
        }
        #expect(try await waitCalls(atLeast: 15) >= 15)
        // The ETA follows the pace the limit allows (10 a second).
        let running = try await show(ingestor, "slow", timeout: .seconds(10)) { $0["progress"]?["eta_seconds"] != nil }
        let pace: Double = if case .double(let d)? = running["progress"]?["per_second"] { d } else { 0 }
        let eta: Int64 = if case .int(let n)? = running["progress"]?["eta_seconds"] { n } else { 0 }
        #expect(pace > 3 && pace < 20 && eta > 0, "\(running)")
        #expect(try await call(ingestor, "POST", "/v1/broadcasts/slow/pause").json["state"] == "paused")
        // What a sender had in hand when the pause came goes out; then nothing.
        try await Task.sleep(for: .milliseconds(1500))
        let atPause = try await calls(sandbox).count
        try await Task.sleep(for: .seconds(2))
        #expect(try await calls(sandbox).count == atPause, "no call while paused")
        #expect(atPause < first.count, "paused mid-way: \(atPause)")
        #expect(try await call(ingestor, "POST", "/v1/broadcasts/slow/resume").json["state"] == "running")
        // More recipients while it runs; one already in it is not added twice.
        let added = try await call(ingestor, "POST", "/v1/broadcasts/slow/recipients", #"{"audience":{"where":{"any":[{"tag":"late"},{"tag":"vip"}]}}}"#)
        #expect(added.status == 202, "\(added.json)")
        let grown = try await show(ingestor, "slow") { $0["adding"] == false && $0["recipients"] == .int(120) }
        #expect(grown["recipients"] == .int(120), "\(grown)")
        #expect(try await waitCalls(atLeast: atPause + 15) >= atPause + 15, "sending went on after the resume")
        #expect(try await call(ingestor, "POST", "/v1/broadcasts/slow/cancel").json["state"] == "cancelled")
        // Every recipient ends: sent once, or cancelled without a call.
        let store = MessageStore(redis: RedisPool(configuration: redis.configuration, logger: Logger(label: "test")), partitions: 4)
        var states: [String: [String: String]] = [:]
        for _ in 0..<150 {
            for c in first + more { states[c] = try await store.message(contactId: c, id: "bc:slow:\(c)") }
            if states.values.allSatisfy({ MessageState(rawValue: $0["state"] ?? "")?.isFinal == true }) { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let got = try await calls(sandbox)
        #expect(got.values.allSatisfy { $0 == 1 }, "called twice: \(got.filter { $0.value > 1 })")
        let wentOut: Set<String> = ["sent", "delivered", "read"]
        for c in first + more {
            let s = states[c] ?? [:]
            if got["bc:slow:\(c)"] != nil {
                #expect(wentOut.contains(s["state"] ?? ""), "\(c) was called: \(s)")
            } else {
                #expect(s["state"] == "cancelled" && s["reason"] == "cancelled by the administrator", "\(c) was not called: \(s)\n\(sender.log)")
            }
        }
        let cancelled = try await recipients(ingestor, "slow", state: "cancelled", limit: 50)
        #expect(cancelled.count == first.count + more.count - got.count && !cancelled.isEmpty, "\(cancelled.count) cancelled, \(got.count) called")
        // The same as CSV, streamed: every recipient, or those of one state.
        func csv(_ query: String) async throws -> (status: Int, lines: [Substring]) {
            let r = try await client.send(
                method: "GET", url: "\(ingestor.apiURL)/v1/broadcasts/slow/recipients.csv\(query)",
                headers: [("Authorization", "Bearer \(TestIngestor.adminKey)")])
            return (r.status, r.bodyText.split(separator: "\r\n"))
        }
        let everyone = try await csv("")
        #expect(everyone.status == 200 && everyone.lines.count == 121 && everyone.lines[0] == "contact_id,send_id,state,reason,attempts,next_attempt,updated")
        let cancelledCSV = try await csv("?state=cancelled")
        #expect(
            cancelledCSV.lines.count == cancelled.count + 1
                && cancelledCSV.lines.dropFirst().allSatisfy { $0.contains(",cancelled,cancelled by the administrator,") })
        #expect(try await csv("?state=nope").status == 400)
        await sender.process.stop()
        await ingestor.process.stop()
        await sandbox.stop()
        await redis.stop()
    }

    /// Uploads a recipient CSV.
    func upload(_ ingestor: TestIngestor, _ id: String, _ csv: String, query: String = "") async throws -> (status: Int, json: JSONValue) {
        let r = try await client.send(
            method: "POST", url: "\(ingestor.apiURL)/v1/broadcasts/\(id)/recipients\(query)",
            headers: [("Authorization", "Bearer \(TestIngestor.adminKey)"), ("Content-Type", "text/csv")], body: Array(csv.utf8))
        return (r.status, (try? JSONValue.parse(string: r.bodyText)) ?? .null)
    }

    @Test(
        "CSV recipients (seed 001): the phone first, the other columns fill the variables in order, or the broadcast's own mapping with defaults; bad rows reported by line and column; a phone twice is one recipient"
    )
    func csvRecipients() async throws {
        let broker = try TestBroker.start(partitions: 4)
        let redis = try await TestRedisServer()
        let ingestor = try await TestIngestor(broker: broker, redis: redis)
        let sandbox = try await TestSandboxProvider()
        let sender = try await TestWorker(.sender, broker: broker, redis: redis, extraEnvironment: senderEnvironment(sandbox, ingestor))
        try await syncTemplates(sandbox, redis)
        #expect(try await call(ingestor, "PUT", "/v1/contacts/known", #"{"phone":"+420601000001","attributes":{"first_name":"Jan"}}"#).status == 200)
        #expect(
            try await call(ingestor, "POST", "/v1/broadcasts", #"{"id":"orders","channel":"whatsapp","template":"order-update","audience":{"tag":"none"}}"#)
                .status == 201)
        let blank = try await client.send(
            method: "GET", url: "\(ingestor.apiURL)/v1/broadcasts/orders/template.csv", headers: [("Authorization", "Bearer \(TestIngestor.adminKey)")])
        #expect(blank.status == 200 && blank.bodyText == "phone,variable_1,variable_2\r\n", "\(blank.bodyText)")
        // Semicolons and a BOM, as Czech spreadsheets write them; national numbers get +420.
        let csv =
            "\u{FEFF}Telefon;Oslovení;Objednávka\n+420601000001;Pane Nováku;A-1\n601000002;Paní Dvořáková;A-2\n12;x;y\n+420601000003;;A-3\n601 000 002;dup;A-9\n"
        let first = try await upload(ingestor, "orders", csv, query: "?country=%2B420")
        #expect(first.status == 200, "\(first.json)")
        #expect(first.json["rows"] == 5 && first.json["added"] == 2 && first.json["already_in"] == 1 && first.json["rejected"] == 2, "\(first.json)")
        let errors = first.json["errors"]?.arrayValue ?? []
        #expect(
            errors.count == 2 && errors[0]["line"] == 4 && errors[0]["column"] == "Telefon" && errors[1]["line"] == 5 && errors[1]["column"] == "Oslovení",
            "\(errors)")
        // Uploading it again adds no one.
        #expect(try await upload(ingestor, "orders", csv, query: "?country=%2B420").json["added"] == 0)
        // The new number is a contact now, found by phone as an import would.
        let newId = ImportMatch.phone.derivedId("+420601000002")
        #expect(try await call(ingestor, "GET", "/v1/contacts/\(newId)").json["phone"] == "+420601000002")

        // A broadcast with its own mapping: the profile's first name, a column, defaults for what is empty.
        let mapped = try await call(
            ingestor, "POST", "/v1/broadcasts",
            #"{"id":"orders2","channel":"whatsapp","template":"order-update","language":"en","audience":{"tag":"none"},"variables":[{"field":"contact.attributes.first_name","default":"zákazníku"},{"field":"event.2","default":"vaše objednávka"}]}"#
        )
        #expect(mapped.status == 201, "\(mapped.json)")
        let second = try await upload(ingestor, "orders2", "phone,ignored,order\n+420601000001,,B-1\n+420601000004,,\n")
        #expect(second.json["added"] == 2 && second.json["rejected"] == 0, "\(second.json)")
        #expect(try await upload(ingestor, "orders2", "x\n+1\n").json["rejected"] == 1)
        // Email broadcasts take audiences, not phone lists.
        #expect(
            try await call(ingestor, "POST", "/v1/broadcasts", #"{"id":"mail","channel":"email","template":"welcome","audience":{"tag":"none"}}"#).status == 201
        )
        #expect(try await upload(ingestor, "mail", "phone\n+420601000001\n").status == 422)

        for id in ["orders", "orders2"] { #expect(try await call(ingestor, "POST", "/v1/broadcasts/\(id)/start").status == 200) }
        for id in ["orders", "orders2"] {
            let done = try await show(ingestor, id) { $0["state"] == "finished" }
            #expect(done["state"] == "finished", "\(done)\n\(sender.log)")
        }
        var parameters: [String: [String]] = [:]
        for r in try await sandbox.requests() where r["api"] == "whatsapp" {
            let id = r["body"]?["biz_opaque_callback_data"]?.stringValue.flatMap(MessageReference.init(text:))?.sendId ?? "?"
            let texts = r["body"]?["template"]?["components"]?.arrayValue?.first?["parameters"]?.arrayValue?.compactMap { $0["text"]?.stringValue }
            parameters[id] = texts
        }
        #expect(parameters["bc:orders:known"] == ["Pane Nováku", "A-1"], "\(parameters)")
        #expect(parameters["bc:orders:\(newId)"] == ["Paní Dvořáková", "A-2"], "\(parameters)")
        #expect(parameters["bc:orders2:known"] == ["Jan", "B-1"], "\(parameters)")
        #expect(parameters["bc:orders2:\(ImportMatch.phone.derivedId("+420601000004"))"] == ["zákazníku", "vaše objednávka"], "\(parameters)")
        #expect(parameters.count == 4, "\(parameters)")
        await sender.process.stop()
        await ingestor.process.stop()
        await sandbox.stop()
        await redis.stop()
    }

    @Test("SIGKILL of the sender mid-broadcast: after a restart every recipient ends sent, none gets two calls, none is skipped")
    func killSenderMidBroadcast() async throws {
        let broker = try TestBroker.start(partitions: 4)
        let redis = try await TestRedisServer()
        let ingestor = try await TestIngestor(broker: broker, redis: redis, extraEnvironment: ["HERALD_WHATSAPP_APP_SECRET": "app-secret"])
        // A slow provider that takes each message and sends its statuses at once: the
        // kill finds calls in flight, which the statuses then close (docs/sender.md).
        let sandbox = try await TestSandboxProvider(arguments: [
            "--answer-delay", "300", "--whatsapp-callback", "\(ingestor.apiURL)/v1/status/whatsapp", "--app-secret", "app-secret",
        ])
        let environment = senderEnvironment(sandbox, ingestor, ["HERALD_SENDER_LEASE": "3s", "HERALD_SENDER_HTTP_CONNECTIONS": "8"])
        try await syncTemplates(sandbox, redis)
        let people = (0..<150).map { "k\($0)" }
        try await putContacts(ingestor, people)
        #expect(
            try await call(ingestor, "POST", "/v1/broadcasts", #"{"id":"kill","channel":"whatsapp","template":"order-update","audience":{"tag":"vip"}}"#)
                .status == 201)
        _ = try await show(ingestor, "kill") { $0["adding"] == false }
        let first = try await TestWorker(.sender, broker: broker, redis: redis, extraEnvironment: environment)
        #expect(try await call(ingestor, "POST", "/v1/broadcasts/kill/start").status == 200)
        for _ in 0..<400 {
            if try await calls(sandbox).count >= 20 { break }
            try await Task.sleep(for: .milliseconds(25))
        }
        first.process.signal(SIGKILL)
        _ = await first.process.wait()
        let atKill = try await calls(sandbox).count
        #expect(atKill < people.count, "the kill did not land mid-broadcast: \(atKill)")
        let second = try await TestWorker(.sender, broker: broker, redis: redis, extraEnvironment: environment)
        let done = try await show(ingestor, "kill", timeout: .seconds(90)) { $0["state"] == "finished" }
        #expect(done["state"] == "finished", "\(done)\n\(second.log)")
        let got = try await calls(sandbox)
        #expect(got.values.allSatisfy { $0 == 1 }, "called twice: \(got.filter { $0.value > 1 })")
        #expect(Set(got.keys) == Set(people.map { "bc:kill:\($0)" }), "skipped: \(Set(people.map { "bc:kill:\($0)" }).subtracting(got.keys))")
        let counts = done["counts"]?.objectValue ?? [:]
        let wentOut = ["sent", "delivered", "read"].reduce(Int64(0)) { if case .int(let n)? = counts[$1] { $0 + n } else { $0 } }
        #expect(wentOut == Int64(people.count), "\(counts)")
        await second.process.stop()
        await ingestor.process.stop()
        await sandbox.stop()
        await redis.stop()
    }

    @Test("a send window in each recipient's time zone: at the same moment one recipient inside it is sent to, one outside waits untouched for its window")
    func sendWindow() async throws {
        let broker = try TestBroker.start(partitions: 4)
        let redis = try await TestRedisServer()
        let ingestor = try await TestIngestor(broker: broker, redis: redis)
        let sandbox = try await TestSandboxProvider()
        let sender = try await TestWorker(.sender, broker: broker, redis: redis, extraEnvironment: senderEnvironment(sandbox, ingestor))
        try await syncTemplates(sandbox, redis)
        // A window that is open now k hours east of UTC and closed in UTC (at least an hour of margin).
        let hour = Calendar(identifier: .gregorian).dateComponents(in: TimeZone(identifier: "UTC")!, from: Date()).hour!
        let k = (1...3).first { (hour + $0) % 24 <= 22 }!
        let start = (hour + k) % 24
        let window = String(format: "%02d:00-%02d:59", start, start + 1)
        #expect(try await call(ingestor, "PUT", "/v1/contacts/east", #"{"phone":"+420601000101","timezone":"Etc/GMT-\#(k)","tags":["w"]}"#).status == 200)
        #expect(try await call(ingestor, "PUT", "/v1/contacts/utc", #"{"phone":"+420601000102","timezone":"UTC","tags":["w"]}"#).status == 200)
        let created = try await call(
            ingestor, "POST", "/v1/broadcasts",
            #"{"id":"win","channel":"whatsapp","template":"order-update","window":"\#(window)","time_zone":"Europe/Prague","audience":{"tag":"w"}}"#)
        #expect(created.status == 201 && created.json["window"] == .string(window), "\(created.json)")
        _ = try await show(ingestor, "win") { $0["adding"] == false }
        #expect(try await call(ingestor, "POST", "/v1/broadcasts/win/start").status == 200)
        for _ in 0..<200 {
            if try await calls(sandbox)["bc:win:east"] != nil { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        try await Task.sleep(for: .seconds(2))
        let got = try await calls(sandbox)
        #expect(got == ["bc:win:east": 1], "\(got)\n\(sender.log)")
        let store = MessageStore(redis: RedisPool(configuration: redis.configuration, logger: Logger(label: "test")), partitions: 4)
        #expect(try await store.message(contactId: "utc", id: "bc:win:utc")?["state"] == "initial", "waiting for its window, untouched")
        // Its retry entry is the window's next start in UTC (today at `start`, or tomorrow).
        let pending = try await RedisPool(configuration: redis.configuration, logger: Logger(label: "test")).execute([
            "ZSCORE", "herald:retry:\(Shard.hashTag(Shard.of("utc", partitions: 4)))", "bc:win:utc",
        ])
        let opens = pending.string.flatMap(Double.init).map { Int64($0) } ?? 0
        let utcStart = opens / 1000 % 86_400
        #expect(utcStart == Int64(start * 3600) && opens > Int64(Date().timeIntervalSince1970 * 1000), "opens at \(opens)")
        #expect(try await call(ingestor, "POST", "/v1/broadcasts/win/cancel").status == 200)
        await sender.process.stop()
        await ingestor.process.stop()
        await sandbox.stop()
        await redis.stop()
    }

    @Test(
        "Meta's 2025 limits: 131049 defers only that recipient by a day (not an error); 131048 stops the number for every sender until an operator resumes it")
    func metaLimits() async throws {
        let broker = try TestBroker.start(partitions: 4)
        let redis = try await TestRedisServer()
        let ingestor = try await TestIngestor(broker: broker, redis: redis)
        let people = (0..<16).map { "m\($0)" }
        // m3's number had its share of marketing; the number is spam-limited after 8 messages.
        let sandbox = try await TestSandboxProvider(arguments: ["--marketing-limited", "+420600000003", "--spam-limit-after", "8"])
        let sender = try await TestWorker(
            .sender, broker: broker, redis: redis, extraEnvironment: senderEnvironment(sandbox, ingestor, ["HERALD_SENDER_HTTP_CONNECTIONS": "1"]))
        try await syncTemplates(sandbox, redis)
        try await putContacts(ingestor, people)
        #expect(
            try await call(ingestor, "POST", "/v1/broadcasts", #"{"id":"meta","channel":"whatsapp","template":"order-update","audience":{"tag":"vip"}}"#)
                .status == 201)
        _ = try await show(ingestor, "meta") { $0["adding"] == false }
        let started = Int64(Date().timeIntervalSince1970 * 1000)
        #expect(try await call(ingestor, "POST", "/v1/broadcasts/meta/start").status == 200)
        let store = MessageStore(redis: RedisPool(configuration: redis.configuration, logger: Logger(label: "test")), partitions: 4)
        func states() async throws -> [String: [String: String]] {
            var out: [String: [String: String]] = [:]
            for c in people { out[c] = try await store.message(contactId: c, id: "bc:meta:\(c)") }
            return out
        }
        var got: [String: [String: String]] = [:]
        for _ in 0..<200 {
            got = try await states()
            // Settled: each sent, or waiting for 131049 or for its stopped number (not for a turn at a rate).
            let settled = got.values.allSatisfy { m in
                let reason = m["reason"] ?? ""
                return ["sent", "delivered", "read"].contains(m["state"] ?? "")
                    || (m["state"] == "retry_scheduled" && (reason.contains("131049") || reason.contains("131048") || reason.contains("is stopped")))
            }
            if got.count == people.count && settled { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let limited = got["m3"] ?? [:]
        #expect(limited["state"] == "retry_scheduled" && limited["reason"]?.contains("131049") == true, "\(limited)")
        #expect((Int64(limited["next_ms"] ?? "") ?? 0) >= started + 86_400_000, "a day at least: \(limited)")
        let stoppedOnes = got.filter { $0.value["reason"]?.contains("131048") == true || $0.value["reason"]?.contains("is stopped") == true }
        #expect(!stoppedOnes.isEmpty && stoppedOnes.values.allSatisfy { $0["state"] == "retry_scheduled" }, "\(got)")
        let wentOut = got.values.filter { ["sent", "delivered", "read"].contains($0["state"] ?? "") }.count
        #expect(wentOut + stoppedOnes.count + 1 == people.count, "\(got)\n\(sender.log)")
        // Once stopped, the number gets no further call.
        let calls = try await sandbox.requests().count
        try await Task.sleep(for: .seconds(2))
        #expect(try await sandbox.requests().count == calls, "no call after the stop")
        let listed = try await limitsCLI(redis, ["stopped"])
        #expect(listed.contains("whatsapp:sandbox-phone") && listed.contains("131048"), "\(listed)")
        #expect(try await limitsCLI(redis, ["resume", "--account", "whatsapp:sandbox-phone"]).contains("may send again"))
        #expect(try await limitsCLI(redis, ["stopped"]).contains("no account is stopped"))
        let metrics = try await client.get("\(sender.metricsURL)/metrics").bodyText
        #expect(metrics.contains(#"herald_sender_account_stops_total{worker="sender",account="whatsapp:sandbox-phone"}"#), "\(metrics.prefix(300))")
        await sender.process.stop()
        await ingestor.process.stop()
        await sandbox.stop()
        await redis.stop()
    }

    @Test("a template paused by Meta (its status webhook, or found by a sync) pauses the broadcasts using it, with the reason; nothing more is sent")
    func templatePaused() async throws {
        let broker = try TestBroker.start(partitions: 4)
        let redis = try await TestRedisServer()
        let ingestor = try await TestIngestor(broker: broker, redis: redis, extraEnvironment: ["HERALD_WHATSAPP_APP_SECRET": "app-secret"])
        let sandbox = try await TestSandboxProvider(arguments: ["--whatsapp-callback", "\(ingestor.apiURL)/v1/status/whatsapp", "--app-secret", "app-secret"])
        let sender = try await TestWorker(
            .sender, broker: broker, redis: redis, extraEnvironment: senderEnvironment(sandbox, ingestor, ["HERALD_LIMITS_WHATSAPP_PER_SECOND": "5"]))
        try await syncTemplates(sandbox, redis)
        try await putContacts(ingestor, (0..<40).map { "t\($0)" })
        #expect(
            try await call(ingestor, "POST", "/v1/broadcasts", #"{"id":"tp","channel":"whatsapp","template":"order-update","audience":{"tag":"vip"}}"#)
                .status == 201)
        _ = try await show(ingestor, "tp") { $0["adding"] == false }
        #expect(try await call(ingestor, "POST", "/v1/broadcasts/tp/start").status == 200)
        for _ in 0..<200 {
            if try await calls(sandbox).count >= 5 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        let paused = try await client.send(method: "POST", url: "\(sandbox.url)/sandbox/templates/order-update/en/status?event=PAUSED&reason=LOW_QUALITY")
        #expect(paused.status == 200 && paused.bodyText.contains("200"), "the webhook was taken: \(paused.bodyText)")
        let shown = try await show(ingestor, "tp") { $0["state"] == "paused" }
        #expect(shown["state"] == "paused", "\(shown)\n\(ingestor.log)")
        #expect(shown["reason"]?.stringValue?.contains("'order-update' (en) is PAUSED: LOW_QUALITY") == true, "\(shown)")
        try await Task.sleep(for: .milliseconds(1500))
        let atPause = try await calls(sandbox).count
        try await Task.sleep(for: .seconds(2))
        #expect(try await calls(sandbox).count == atPause && atPause < 40, "nothing more sent: \(atPause)")
        let catalogue = try await WhatsAppCatalog(redis: RedisPool(configuration: redis.configuration, logger: Logger(label: "test"))).entries()
        #expect(catalogue["order-update|en"]?.status == "PAUSED")
        // A sync finds the same: a scheduled broadcast of the template is paused too.
        #expect(
            try await call(
                ingestor, "POST", "/v1/broadcasts",
                #"{"id":"later","channel":"whatsapp","template":"order-update","language":"en","audience":{"tag":"vip"},"start_at":"2099-01-01T00:00:00Z"}"#
            ).status == 422, "more than a year ahead")
        let inAMonth = RFC3339.format(milliseconds: Int64(Date().timeIntervalSince1970 * 1000) + 30 * 86_400_000)
        #expect(
            try await call(
                ingestor, "POST", "/v1/broadcasts",
                #"{"id":"later","channel":"whatsapp","template":"order-update","language":"en","audience":{"tag":"none"},"start_at":"\#(inAMonth)"}"#
            ).status == 201)
        #expect(try await call(ingestor, "POST", "/v1/broadcasts/later/start").json["state"] == "scheduled")
        let dir = try temporaryDirectory("sync")
        let cli = try ChildProcess(
            executable: try BuiltProducts.executable("heraldctl"),
            arguments: ["templates", "sync", "--api-url", sandbox.url, "--redis-port", String(redis.port)], output: .file("\(dir)/out"))
        #expect(await cli.wait() == 0)
        let printed = (try? String(contentsOfFile: "\(dir)/out", encoding: .utf8)) ?? ""
        #expect(printed.contains("paused broadcast later"), "\(printed)")
        #expect(try await call(ingestor, "GET", "/v1/broadcasts/later").json["state"] == "paused")
        await sender.process.stop()
        await ingestor.process.stop()
        await sandbox.stop()
        await redis.stop()
    }

    @Test("an error rate over the broadcast's threshold pauses it by itself; retry failed sends again only to those that failed")
    func autoPauseAndRetryFailed() async throws {
        let broker = try TestBroker.start(partitions: 4)
        let redis = try await TestRedisServer()
        let ingestor = try await TestIngestor(broker: broker, redis: redis)
        // Every other number is undeliverable (131026, sending_failed): half fail.
        let people = (0..<60).map { "e\($0)" }
        let rejected = stride(from: 0, to: 60, by: 2).map { "+42060\(String(format: "%07d", $0))" }
        let sandbox = try await TestSandboxProvider(arguments: rejected.flatMap { ["--reject", $0] })
        let sender = try await TestWorker(
            .sender, broker: broker, redis: redis, extraEnvironment: senderEnvironment(sandbox, ingestor, ["HERALD_LIMITS_WHATSAPP_PER_SECOND": "15"]))
        try await syncTemplates(sandbox, redis)
        try await putContacts(ingestor, people)
        // The default threshold (20 %): paused by itself once 50 ended.
        #expect(
            try await call(ingestor, "POST", "/v1/broadcasts", #"{"id":"auto","channel":"whatsapp","template":"order-update","audience":{"tag":"vip"}}"#)
                .status == 201)
        _ = try await show(ingestor, "auto") { $0["adding"] == false }
        #expect(try await call(ingestor, "POST", "/v1/broadcasts/auto/start").status == 200)
        let paused = try await show(ingestor, "auto") { $0["state"] == "paused" }
        #expect(paused["state"] == "paused" && paused["reason"]?.stringValue?.hasPrefix("auto-paused: ") == true, "\(paused)")
        #expect(try await call(ingestor, "POST", "/v1/broadcasts/auto/cancel").status == 200)

        // Never paused (100): it finishes with half failed; retry failed calls those again, and only those.
        #expect(
            try await call(
                ingestor, "POST", "/v1/broadcasts",
                #"{"id":"again","channel":"whatsapp","template":"order-update","audience":{"tag":"vip"},"pause_on_error_rate":100}"#
            ).status == 201)
        _ = try await show(ingestor, "again") { $0["adding"] == false }
        #expect(try await call(ingestor, "POST", "/v1/broadcasts/again/start").status == 200)
        let first = try await show(ingestor, "again", timeout: .seconds(60)) { $0["state"] == "finished" }
        #expect(first["counts"]?["sending_failed"] == 30, "\(first)")
        #expect(try await call(ingestor, "POST", "/v1/broadcasts/again/retry-failed").json["state"] == "running")
        let second = try await show(ingestor, "again", timeout: .seconds(60)) { b in
            b["state"] == "finished" && b["counts"]?["sending_failed"] == 30 && b["counts"]?["retry_scheduled"] == nil
        }
        #expect(second["state"] == "finished" && second["counts"]?["sending_failed"] == 30, "\(second)")
        var perRecipient: [String: Int] = [:]
        for (id, n) in try await calls(sandbox) where id.hasPrefix("bc:again:") { perRecipient[String(id.dropFirst(9)), default: 0] += n }
        for (i, c) in people.enumerated() { #expect(perRecipient[c] == (i % 2 == 0 ? 2 : 1), "\(c): \(perRecipient[c] ?? 0) calls") }
        await sender.process.stop()
        await ingestor.process.stop()
        await sandbox.stop()
        await redis.stop()
    }

    @Test("two numbers of one business portfolio, a broadcast each, four senders: together they reach no more unique recipients than the portfolio's tier")
    func sharedPortfolio() async throws {
        let broker = try TestBroker.start(partitions: 4)
        let redis = try await TestRedisServer()
        let ingestor = try await TestIngestor(broker: broker, redis: redis)
        let sandbox = try await TestSandboxProvider()
        let accounts = try temporaryDirectory("accounts")
        try FileManager.default.createDirectory(atPath: "\(accounts)/whatsapp", withIntermediateDirectories: true)
        for (name, id) in [("shop-a", "111"), ("shop-b", "222")] {
            try "phone_number_id: \"\(id)\"\ntoken_env: TEST_WA_TOKEN\nper_second: 1000\nportfolio: shop\n".write(
                toFile: "\(accounts)/whatsapp/\(name).yaml", atomically: true, encoding: .utf8)
        }
        let limiter = RateLimiter(redis: RedisPool(configuration: redis.configuration, logger: Logger(label: "test")))
        _ = try await limiter.setTier(account: "shop", limit: 50)
        var senders: [TestWorker] = []
        for _ in 0..<4 {
            senders.append(
                try await TestWorker(
                    .sender, broker: broker, redis: redis,
                    extraEnvironment: senderEnvironment(sandbox, ingestor, ["HERALD_SENDER_ACCOUNTS_DIR": accounts, "TEST_WA_TOKEN": "shop-token"])))
        }
        try await syncTemplates(sandbox, redis)
        try await putContacts(ingestor, (0..<40).map { "pa\($0)" }, tags: ["a"])
        try await putContacts(ingestor, (0..<40).map { "pb\($0)" }, tags: ["b"], firstPhone: 100)
        for (id, account, tag) in [("sa", "shop-a", "a"), ("sb", "shop-b", "b")] {
            let body = #"{"id":"\#(id)","channel":"whatsapp","template":"order-update","account":"\#(account)","audience":{"tag":"\#(tag)"}}"#
            #expect(try await call(ingestor, "POST", "/v1/broadcasts", body).status == 201)
            _ = try await show(ingestor, id) { $0["adding"] == false }
        }
        for id in ["sa", "sb"] { #expect(try await call(ingestor, "POST", "/v1/broadcasts/\(id)/start").status == 200) }
        // Until the tier is reached (the four senders' group may still be settling), then a while more: no more come.
        var requests: [JSONValue] = []
        for _ in 0..<150 {
            requests = try await sandbox.requests().filter { $0["api"] == "whatsapp" }
            if requests.count >= 50 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        try await Task.sleep(for: .seconds(3))
        requests = try await sandbox.requests().filter { $0["api"] == "whatsapp" }
        let recipients = Set(requests.compactMap { $0["body"]?["to"]?.stringValue })
        let numbers = Set(requests.compactMap { $0["path"]?.stringValue })
        let store = MessageStore(redis: RedisPool(configuration: redis.configuration, logger: Logger(label: "test")), partitions: 4)
        let sample = try await store.message(contactId: "pa39", id: "bc:sa:pa39")
        #expect(
            recipients.count == 50 && requests.count == 50,
            "the portfolio's tier, over both numbers and four senders: \(recipients.count) recipients, \(requests.count) calls; pa39: \(String(describing: sample))"
        )
        #expect(numbers == ["/v21.0/111/messages", "/v21.0/222/messages"], "both numbers sent: \(numbers)")
        for w in senders { await w.process.stop() }
        await ingestor.process.stop()
        await sandbox.stop()
        await redis.stop()
    }

    @Test(
        "a portfolio's messaging limit is read from Meta's Graph API (whatsapp_business_manager_messaging_limit) and applied at run time; an unknown tier is refused"
    )
    func tierFromProvider() async throws {
        let redis = try await TestRedisServer()
        let sandbox = try await TestSandboxProvider(arguments: ["--messaging-limit", "TIER_10K"])
        let synced = try await limitsCLI(
            redis, ["sync", "--api-url", sandbox.url, "--phone-number-id", "111", "--portfolio", "shop", "--token", "t"])
        #expect(synced.contains("TIER_10K from Meta, 10000 unique recipients"), "\(synced)")
        #expect(try await limitsCLI(redis, ["show", "--account", "shop"]).contains("10000 unique recipients"))
        #expect(try await sandbox.requests().isEmpty, "the sandbox's own routes still answer")
        await sandbox.stop()
        let odd = try await TestSandboxProvider(arguments: ["--messaging-limit", "TIER_1K"])
        let refused = try await limitsCLI(redis, ["sync", "--api-url", odd.url, "--phone-number-id", "111", "--token", "t"])
        #expect(refused.contains("Meta reported messaging limit 'TIER_1K', which Herald does not know"), "\(refused)")
        await odd.stop()
        await redis.stop()
    }

    @Test(
        "SIGKILL of the ingestor (its planner) while a paced broadcast runs: another takes the lease over and goes on from the window's cursors; every recipient sent once"
    )
    func killPlannerMidBroadcast() async throws {
        let broker = try TestBroker.start(partitions: 4)
        let redis = try await TestRedisServer()
        let lease = ["HERALD_BROADCASTS_PLANNER_LEASE": "2s"]
        let first = try await TestIngestor(broker: broker, redis: redis, extraEnvironment: lease)
        let sandbox = try await TestSandboxProvider()
        // 200 a second over 1,400 recipients: the window (at least 1,000) releases them in steps. The tier
        // unlimited (by default 1,000 unique recipients a day would hold the rest, rightly).
        let sender = try await TestWorker(
            .sender, broker: broker, redis: redis,
            extraEnvironment: senderEnvironment(sandbox, first, ["HERALD_LIMITS_WHATSAPP_PER_SECOND": "200", "HERALD_LIMITS_WHATSAPP_TIER": "0"]))
        try await syncTemplates(sandbox, redis)
        let contacts = ContactStore(redis: RedisPool(configuration: redis.configuration, logger: Logger(label: "test")), partitions: 4)
        let people = (0..<1400).map { "kp\($0)" }
        try await contacts.apply(
            people.enumerated().map { i, c in
                var change = ContactChange()
                change.fields["phone"] = .string("+42061\(String(format: "%07d", i))")
                change.addLists = ["kill-list"]
                return (c, change)
            }, now: 1_000)
        #expect(
            try await call(first, "POST", "/v1/broadcasts", #"{"id":"kp","channel":"whatsapp","template":"order-update","audience":{"list":"kill-list"}}"#)
                .status == 201)
        _ = try await show(first, "kp") { $0["adding"] == false }
        #expect(try await call(first, "POST", "/v1/broadcasts/kp/start").status == 200)
        for _ in 0..<300 {
            if try await calls(sandbox).count >= 300 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        first.process.signal(SIGKILL)
        _ = await first.process.wait()
        let atKill = try await calls(sandbox).count
        #expect(atKill < 1000, "killed while the window still held recipients back: \(atKill)")
        let second = try await TestIngestor(broker: broker, redis: redis, extraEnvironment: lease)
        let done = try await show(second, "kp", timeout: .seconds(90)) { $0["state"] == "finished" }
        #expect(done["state"] == "finished", "\(done)\n\(second.log)")
        let got = try await calls(sandbox)
        // On a failure, one recipient still waiting says why.
        var sample: [String: String] = [:]
        let store = MessageStore(redis: RedisPool(configuration: redis.configuration, logger: Logger(label: "test")), partitions: 4)
        for c in people where got.count != people.count {
            if let m = try await store.message(contactId: c, id: "bc:kp:\(c)"), m["state"] == "retry_scheduled" {
                sample = m
                break
            }
        }
        #expect(
            got.count == people.count && got.values.allSatisfy { $0 == 1 },
            "\(got.count) recipients called, \(got.filter { $0.value > 1 }.count) twice; \(sample.filter { $0.key != "request" })")
        await sender.process.stop()
        await second.process.stop()
        await sandbox.stop()
        await redis.stop()
    }

    func limitsCLI(_ redis: TestRedisServer, _ arguments: [String]) async throws -> String {
        let dir = try temporaryDirectory("limits")
        let p = try ChildProcess(
            executable: try BuiltProducts.executable("heraldctl"), arguments: ["limits"] + arguments + ["--redis-port", String(redis.port)],
            output: .file("\(dir)/out"))
        _ = await p.wait()
        return (try? String(contentsOfFile: "\(dir)/out", encoding: .utf8)) ?? ""
    }
}

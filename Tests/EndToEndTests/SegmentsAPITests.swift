import Foundation
import HeraldChannels
import HeraldCore
import HeraldDevTools
import HeraldKafka
import HeraldTestSupport
import Testing

@Suite("Segments over HTTP (real ingestor, real redis-server)", .timeLimit(.minutes(2)))
struct SegmentsAPITests {
    let client = HTTPClient(concurrency: 4)

    func call(_ ingestor: TestIngestor, _ method: String, _ path: String, _ body: String? = nil, key: String = TestIngestor.adminKey) async throws -> (
        status: Int, json: JSONValue
    ) {
        let r = try await client.send(
            method: method, url: "\(ingestor.apiURL)\(path)", headers: [("Authorization", "Bearer \(key)"), ("Content-Type", "application/json")],
            body: body.map { Array($0.utf8) })
        return (r.status, (try? JSONValue.parse(r.body)) ?? .null)
    }

    @Test("save a segment, count and page its members (equal to a brute-force count), filter contacts by it, replace and delete it; bad ones refused")
    func lifecycle() async throws {
        let broker = try TestBroker.start(partitions: 2)
        let redis = try await TestRedisServer()
        let ingestor = try await TestIngestor(broker: broker, redis: redis)
        var expected: Set<String> = []
        for n in 0..<60 {
            let city = n % 3 == 0 ? "Praha" : "Brno"
            let vip = n % 4 == 0
            #expect(
                try await call(ingestor, "PUT", "/v1/contacts/s\(n)", #"{"tags":\#(vip ? #"["vip"]"# : "[]"),"attributes":{"city":"\#(city)","n":\#(n)}}"#)
                    .status == 200)
            if city == "Praha" && vip { expected.insert("s\(n)") }
        }
        let created = try await call(
            ingestor, "POST", "/v1/segments", #"{"id":"vip-prague","name":"VIP v Praze","where":{"all":[{"tag":"vip"},{"attribute":"city","eq":"Praha"}]}}"#)
        #expect(created.status == 201 && created.json["name"] == "VIP v Praze", "\(created)")
        #expect(try await call(ingestor, "POST", "/v1/segments", #"{"id":"vip-prague","where":{"tag":"x"}}"#).status == 409)
        #expect(try await call(ingestor, "GET", "/v1/segments/vip-prague/count", key: TestIngestor.readKey).json["count"] == .int(Int64(expected.count)))
        var seen: [String] = []
        var cursor: String? = nil
        repeat {
            let page = try await call(ingestor, "GET", "/v1/segments/vip-prague/contacts?limit=2" + (cursor.map { "&cursor=\($0)" } ?? ""))
            seen += page.json["contacts"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
            cursor = page.json["next_cursor"]?.stringValue
        } while cursor != nil && seen.count < 100
        #expect(seen.count == expected.count && Set(seen) == expected, "\(seen)")
        // The contacts listing combines a segment with its own filters.
        let high = try await call(ingestor, "GET", "/v1/contacts?count=true&segment=vip-prague&where=\(URLEncoding.percentEncoded("{attribute: n, gt: 30}"))")
        #expect(high.json["count"] == .int(Int64(expected.filter { Int($0.dropFirst())! > 30 }.count)), "\(high)")
        #expect(try await call(ingestor, "GET", "/v1/contacts?segment=nope").json["field"] == "segment")
        // Replaced as YAML text; listed; deleted.
        let replaced = try await call(ingestor, "PUT", "/v1/segments/vip-prague", #"{"where":"{attribute: city, eq: Brno}"}"#)
        #expect(replaced.status == 200 && replaced.json["created_at_ms"] == created.json["created_at_ms"], "\(replaced)")
        #expect(try await call(ingestor, "GET", "/v1/segments/vip-prague/count").json["count"] == 40)
        #expect(try await call(ingestor, "GET", "/v1/segments").json["segments"]?.arrayValue?.map { $0["id"] } == ["vip-prague"])
        for (body, field) in [
            (#"{"id":"Bad Id","where":{"tag":"x"}}"#, "id"), (#"{"id":"a","where":{"messages":{"count":{"gt":1}}}}"#, "where"),
            (#"{"id":"a"}"#, "where"), (#"{"id":"a","where":{"tag":"x"},"colour":1}"#, "colour"),
        ] {
            let r = try await call(ingestor, "POST", "/v1/segments", body)
            #expect(r.status == 400 && r.json["field"]?.stringValue == field, "\(body): \(r)")
        }
        #expect(try await call(ingestor, "POST", "/v1/segments", #"{"id":"b","where":{"tag":"x"}}"#, key: TestIngestor.readKey).status == 403)
        // The CLI saves and counts too.
        let dir = try temporaryDirectory("segments-cli")
        let save = try ChildProcess(
            executable: try BuiltProducts.executable("heraldctl"),
            arguments: [
                "segments", "save", "brno-vip", "--where", "{all: [{tag: vip}, {attribute: city, eq: Brno}]}", "--api", ingestor.apiURL, "--admin-key",
                TestIngestor.adminKey,
            ],
            output: .file("\(dir)/save"))
        #expect(await save.wait() == 0)
        let count = try ChildProcess(
            executable: try BuiltProducts.executable("heraldctl"),
            arguments: ["contacts", "count", "--segment", "brno-vip", "--api", ingestor.apiURL, "--admin-key", TestIngestor.adminKey],
            output: .file("\(dir)/count"))
        #expect(await count.wait() == 0)
        #expect(try String(contentsOfFile: "\(dir)/count", encoding: .utf8) == "10\n")
        #expect(try await call(ingestor, "DELETE", "/v1/segments/vip-prague").status == 204)
        #expect(try await call(ingestor, "GET", "/v1/segments/vip-prague/count").status == 404)
        await ingestor.process.stop()
        await redis.stop()
    }

    @Test("a campaign's audience names a segment: only its members enter, and a changed segment applies without republishing")
    func campaignAudience() async throws {
        let broker = try TestBroker.start(partitions: 2)
        let redis = try await TestRedisServer()
        let ingestor = try await TestIngestor(broker: broker, redis: redis)
        let scheduler = try await TestWorker(.scheduler, broker: broker, redis: redis)
        #expect(try await call(ingestor, "PUT", "/v1/contacts/p1", #"{"attributes":{"city":"Praha"}}"#).status == 200)
        #expect(try await call(ingestor, "PUT", "/v1/contacts/b1", #"{"attributes":{"city":"Brno"}}"#).status == 200)
        #expect(try await call(ingestor, "POST", "/v1/segments", #"{"id":"here","where":{"attribute":"city","eq":"Praha"}}"#).status == 201)
        let campaign = """
            id: seg-welcome
            list: all
            entry: after_exit
            triggers:
              - event: signup
            audience: {segment: here}
            steps:
              - id: hello
                send: {channel: email, template: welcome, category: promo}
            """
        let r = try await client.send(
            method: "POST", url: "\(ingestor.apiURL)/v1/campaigns/seg-welcome/publish",
            headers: [("Authorization", "Bearer \(TestIngestor.adminKey)"), ("Content-Type", "application/yaml")], body: Array(campaign.utf8))
        #expect(r.status == 200, "\(r.bodyText)")
        func signup(_ id: String, _ contact: String) async throws {
            let body = #"{"id":"\#(id)","type":"signup","contact_id":"\#(contact)"}"#
            let r = try await client.postJSON("\(ingestor.apiURL)/v1/events", Array(body.utf8), headers: [("Authorization", "Bearer \(TestIngestor.apiKey)")])
            #expect(r.status == 202)
        }
        try await signup("e1", "p1")
        try await signup("e2", "b1")
        let first = try await readTopic(Topics.sends, bootstrapServers: broker.bootstrapServers, timeout: .seconds(8)) { $0.contains { $0.keyString == "p1" } }
        #expect(first.compactMap(\.keyString) == ["p1"], "only the segment's member entered: \(first.compactMap(\.keyString))\n\(scheduler.log)")
        // The segment now selects Brno: b1 enters on its next signup (its first try exited at once, so
        // `after_exit` lets it in again), with the campaign as published.
        #expect(try await call(ingestor, "PUT", "/v1/segments/here", #"{"where":{"attribute":"city","eq":"Brno"}}"#).status == 200)
        try await signup("e3", "b1")
        let second = try await readTopic(Topics.sends, bootstrapServers: broker.bootstrapServers, timeout: .seconds(20)) {
            $0.contains { $0.keyString == "b1" }
        }
        #expect(second.compactMap(\.keyString).sorted() == ["b1", "p1"], "\(second.compactMap(\.keyString))")
        await scheduler.process.stop()
        await ingestor.process.stop()
        await redis.stop()
    }

    @Test(
        "a saved segment that counts an event type starts its recording: its events then count, opens always do, and a type nobody counts is not kept"
    )
    func activitySegment() async throws {
        let broker = try TestBroker.start(partitions: 2)
        let redis = try await TestRedisServer()
        let ingestor = try await TestIngestor(broker: broker, redis: redis)
        let saved = try await call(
            ingestor, "POST", "/v1/segments", #"{"id":"carts","where":{"events":{"name":"cart_abandoned","within":"7d","count":{"gt":1}}}}"#)
        #expect(saved.status == 201, "\(saved)")
        var events: [String] = []
        for (n, (contact, type)) in [
            ("ann", "cart_abandoned"), ("ann", "cart_abandoned"), ("bob", "cart_abandoned"), ("bob", "page_visited"),
            ("bob", "page_visited"), ("cyd", "email_opened"),
        ].enumerated() {
            events.append(#"{"id":"a\#(n)","type":"\#(type)","contact_id":"\#(contact)","properties":{"url":"https://shop.example/"}}"#)
        }
        #expect(try await call(ingestor, "POST", "/v1/events", #"{"events":[\#(events.joined(separator: ","))]}"#, key: TestIngestor.apiKey).status == 202)
        var count: JSONValue = .null
        for _ in 0..<100 {
            count = try await call(ingestor, "GET", "/v1/segments/carts/count").json["count"] ?? .null
            if count == 1, try await call(ingestor, "GET", "/v1/contacts/cyd").json["activity"] != nil { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let ann = try await call(ingestor, "GET", "/v1/contacts/ann").json
        #expect(count == 1, "ann abandoned two carts, bob one: \(ann)")
        let bob = try await call(ingestor, "GET", "/v1/contacts/bob").json
        #expect(bob["activity"]?["cart_abandoned"]?["kept"] == 1 && bob["activity"]?["page_visited"] == nil, "\(bob)")
        #expect(try await call(ingestor, "GET", "/v1/contacts/cyd").json["activity"]?["email_opened"]?["kept"] == 1)
        await ingestor.process.stop()
        await redis.stop()
    }
}

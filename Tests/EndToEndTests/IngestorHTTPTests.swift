import Foundation
import Glibc
import HeraldChannels
import HeraldCore
import HeraldDevTools
import HeraldKafka
import HeraldRedis
import HeraldService
import HeraldTestSupport
import Logging
import Testing

@Suite("herald-ingestor over HTTP (real executable, embedded broker, real redis-server)", .serialized, .timeLimit(.minutes(3)))
struct IngestorHTTPTests {
    let client = HTTPClient(concurrency: 8)
    let auth = [("Authorization", "Bearer \(TestIngestor.apiKey)")]

    func post(_ ingestor: TestIngestor, _ body: String, headers: [(String, String)]? = nil, contentType: String = "application/json") async throws -> (
        Int, JSONValue
    ) {
        let r = try await client.send(
            method: "POST", url: "\(ingestor.apiURL)/v1/events", headers: [("Content-Type", contentType)] + (headers ?? auth), body: Array(body.utf8))
        return (r.status, (try? JSONValue.parse(r.body)) ?? .string(r.bodyText))
    }

    @Test("accepted events are on herald.events keyed by contact, in the contact's shard; bad input is refused with the field named")
    func contract() async throws {
        let broker = try TestBroker.start(partitions: 4)
        let redis = try await TestRedisServer()
        let ingestor = try await TestIngestor(broker: broker, redis: redis, extraEnvironment: ["HERALD_API_MAX_BODY_BYTES": "65536"])
        let run = uniqueName("r")

        // A batch of valid events.
        let events = (0..<20).map { #"{"id":"\#(run)-\#($0)","type":"purchase","contact_id":"contact-\#($0 % 7)","properties":{"n":\#($0)}}"# }
        let (status, body) = try await post(ingestor, #"{"events":[\#(events.joined(separator: ","))]}"#)
        #expect(status == 202, "\(body)")
        #expect(body["accepted"] == .int(20))

        // A single event, then the same id again: acknowledged as a duplicate.
        let single = #"{"id":"\#(run)-single","type":"cart_abandoned","contact_id":"ada","timestamp":"2026-11-22T10:00:00Z"}"#
        #expect(try await post(ingestor, single).0 == 202)
        let (dupStatus, dupBody) = try await post(ingestor, single)
        #expect(dupStatus == 202)
        #expect(dupBody["duplicates"] == .int(1))

        // One id for two contacts of different shards is two events, in one batch as
        // in two requests (the dedupe key is shard and id); repeated for one contact, one.
        let (a, b) = ("ada", try #require((0..<100).map { "c\($0)" }.first { Shard.of($0, partitions: 4) != Shard.of("ada", partitions: 4) }))
        let shared =
            #"{"events":[{"id":"\#(run)-shared","type":"signup","contact_id":"\#(a)"},{"id":"\#(run)-shared","type":"signup","contact_id":"\#(b)"},{"id":"\#(run)-shared","type":"signup","contact_id":"\#(a)"}]}"#
        let (sharedStatus, sharedBody) = try await post(ingestor, shared)
        #expect(sharedStatus == 202 && sharedBody["accepted"] == .int(2) && sharedBody["duplicates"] == .int(1), "\(sharedBody)")

        // A batch with one bad event: the others are accepted, the bad one named by index and field.
        let mixed =
            #"{"events":[{"id":"\#(run)-m0","type":"page_visited","contact_id":"bo"},{"id":"\#(run)-m1","type":"page_visited"},{"id":"\#(run)-m2","type":"page_visited","contact_id":"bo","timestamp":"nope"}]}"#
        let (mixedStatus, mixedBody) = try await post(ingestor, mixed)
        #expect(mixedStatus == 400)
        #expect(mixedBody["accepted"] == .int(1))
        guard case .array(let results)? = mixedBody["results"] else { Issue.record("no results: \(mixedBody)"); return }
        #expect(results[0]["status"] == "accepted")
        #expect(results[1]["status"] == "rejected" && results[1]["field"] == "contact_id" && results[1]["index"] == .int(1))
        #expect(results[2]["field"] == "timestamp")

        // Wrong or missing key, wrong content type, oversized body, broken JSON, bad batch shape.
        #expect(try await post(ingestor, single, headers: []).0 == 401)
        #expect(try await post(ingestor, single, headers: [("Authorization", "Bearer wrong")]).0 == 401)
        #expect(try await post(ingestor, single, contentType: "text/plain").0 == 415)
        let huge = #"{"id":"x","type":"t","contact_id":"c","properties":{"pad":"\#(String(repeating: "x", count: 70_000))"}}"#
        #expect(try await post(ingestor, huge).0 == 413)
        let (brokenStatus, brokenBody) = try await post(ingestor, #"{"id":"x","#)
        #expect(brokenStatus == 400)
        #expect(brokenBody["detail"]?.stringValue?.contains("not valid JSON") == true)
        #expect(try await post(ingestor, #"{"events":{}}"#).0 == 400)
        #expect(try await post(ingestor, #"{"events":[]}"#).0 == 400)

        // Read back: exactly the accepted events, once each, keyed and partitioned by contact.
        let expected = Set((0..<20).map { "\(run)-\($0)" } + ["\(run)-single", "\(run)-m0", "\(run)-shared"])
        let records = try await readTopic(Topics.events, bootstrapServers: broker.bootstrapServers) { records in
            Set(records.compactMap { try? Event(decoding: $0.value).id }).isSuperset(of: expected)
                && records.filter { (try? Event(decoding: $0.value).id) == "\(run)-shared" }.count >= 2
        }
        let decoded = try records.map { ($0, try Event(decoding: $0.value)) }
        let ids = decoded.map(\.1.id)
        #expect(Set(ids) == expected)
        #expect(ids.count == expected.count + 1, "an event was produced twice (the shared id is two events)")
        #expect(Set(decoded.filter { $0.1.id == "\(run)-shared" }.map(\.1.contactId)) == [a, b])
        for (record, event) in decoded {
            #expect(record.keyString == event.contactId)
            #expect(record.partition == Shard.of(event.contactId, partitions: 4))
        }
        #expect(decoded.first { $0.1.id == "\(run)-single" }?.1.timestamp == 1_795_341_600_000)

        // Metrics count what happened.
        let metrics = try await client.get("\(ingestor.metricsURL)/metrics").bodyText
        #expect(metrics.contains(#"herald_ingest_events_accepted_total{worker="ingestor",source="http"} 24"#), "\(metrics)")
        #expect(metrics.contains(#"herald_ingest_events_duplicate_total{worker="ingestor",source="http"} 2"#))
        await ingestor.process.stop()
        await redis.stop()
    }

    @Test("/readyz reports Redis down, events are refused (503) rather than accepted without dedupe; logs are JSON lines when asked")
    func readiness() async throws {
        let broker = try TestBroker.start(partitions: 2)
        let redis = try await TestRedisServer()
        let ingestor = try await TestIngestor(broker: broker, redis: redis, extraEnvironment: ["HERALD_LOG_FORMAT": "json"])
        #expect(try await client.get("\(ingestor.metricsURL)/readyz").status == 200)
        #expect(try await client.get("\(ingestor.metricsURL)/healthz").status == 200)
        await redis.stop()
        let ready = try await client.get("\(ingestor.metricsURL)/readyz")
        #expect(ready.status == 503)
        #expect(ready.bodyText.contains(#""redis":false"#))
        let (status, body) = try await post(ingestor, #"{"id":"r1","type":"t","contact_id":"c"}"#)
        #expect(status == 503, "\(body)")
        #expect(body["retry"] == .int(1))
        #expect(await ingestor.process.stop() == 0)
        let lines = ingestor.log.split(separator: "\n")
        #expect(lines.count > 3)
        for line in lines {
            let object = try JSONValue.parse(string: String(line))
            #expect(object["level"]?.stringValue != nil && object["msg"]?.stringValue != nil, "\(line)")
        }
        #expect(lines.contains { $0.contains("herald-ingestor stopped") })
    }

    @Test("a bad configuration value stops the ingestor at start-up with the key and the value")
    func badConfiguration() async throws {
        let dir = try temporaryDirectory("badconfig")
        let process = try ChildProcess(
            executable: try BuiltProducts.executable("herald-ingestor"),
            environment: ["HERALD_API_PORT": "http", "HERALD_CONFIG": "\(BuiltProducts.packageRoot)/config/herald.yaml"],
            output: .file("\(dir)/log"))
        #expect(await process.wait() == 2)
        let log = try String(contentsOfFile: "\(dir)/log", encoding: .utf8)
        #expect(log.contains("api.port") && log.contains("'http'") && log.contains("HERALD_API_PORT"), "\(log)")
    }

    @Test("a worker refuses to start on a Redis that evicts keys, naming the policy")
    func evictingRedis() async throws {
        let broker = try TestBroker.start(partitions: 2)
        let redis = try await TestRedisServer()
        let pool = RedisPool(configuration: redis.configuration, logger: Logger(label: "test"))
        _ = try await pool.execute(["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"])
        let dir = try temporaryDirectory("evicting")
        let process = try ChildProcess(
            executable: try BuiltProducts.executable("herald-scheduler"),
            environment: [
                "HERALD_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrapServers, "HERALD_KAFKA_PARTITIONS": "2", "HERALD_REDIS_PORT": String(redis.port),
                "HERALD_SCHEDULER_METRICS_PORT": String(freeTCPPort()), "HERALD_DEV_MODE": "true",
                "HERALD_CONFIG": "\(BuiltProducts.packageRoot)/config/herald.yaml",
            ],
            output: .file("\(dir)/log"))
        let code = await process.wait(timeout: .seconds(30))
        if code == nil { process.signal(SIGKILL) }
        let log = try String(contentsOfFile: "\(dir)/log", encoding: .utf8)
        #expect(code == 1, "\(log)")
        #expect(log.contains("maxmemory-policy allkeys-lru"), "\(log)")
        await redis.stop()
    }

    @Test("contacts: PUT, PATCH, GET, DELETE over HTTP, and events change the profile")
    func contacts() async throws {
        let broker = try TestBroker.start(partitions: 2)
        let redis = try await TestRedisServer()
        let ingestor = try await TestIngestor(broker: broker, redis: redis)
        let url = "\(ingestor.apiURL)/v1/contacts/ada"
        func send(_ method: String, _ body: String? = nil) async throws -> (Int, JSONValue) {
            let r = try await client.send(
                method: method, url: url, headers: [("Content-Type", "application/json"), ("Authorization", "Bearer \(TestIngestor.adminKey)")],
                body: body.map { Array($0.utf8) })
            return (r.status, (try? JSONValue.parse(r.body)) ?? .null)
        }
        #expect(try await send("GET").0 == 404)
        let (putStatus, put) = try await send("PUT", #"{"email":"ada@example.com","timezone":"Europe/Prague","attributes":{"gender":"female"},"tags":["new"]}"#)
        #expect(putStatus == 200, "\(put)")
        #expect(put["tags"] == ["new"])
        let (badStatus, bad) = try await send("PATCH", #"{"phone":"12345"}"#)
        #expect(badStatus == 400)
        #expect(bad["field"] == "phone")
        #expect(try await send("PATCH", #"{"attributes":{"city":"Brno"}}"#).0 == 200)
        // Events change the profile through herald.events.
        let events =
            #"{"events":[{"id":"p-1","type":"purchase","contact_id":"ada"},{"id":"t-1","type":"tag_added","contact_id":"ada","properties":{"tag":"vip"}},{"id":"l-1","type":"list_subscribed","contact_id":"ada","properties":{"list":"newsletter"}}]}"#
        #expect(try await post(ingestor, events).0 == 202)
        var profile = JSONValue.null
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            profile = try await send("GET").1
            if profile["lists"] == ["newsletter"] { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(profile["tags"] == ["new", "vip"], "\(profile)")
        #expect(profile["lists"] == ["newsletter"])
        #expect(profile["purchases"]?["count"] == .int(1))
        #expect(profile["attributes"] == ["gender": "female", "city": "Brno"])
        #expect(try await send("DELETE").0 == 204)
        #expect(try await send("GET").0 == 404)
        #expect(try await client.get(url).status == 401)
        await ingestor.process.stop()
        await redis.stop()
    }

    @Test("key scopes: an ingest key posts events and reads nothing; a read key reads; only an admin key changes or erases a contact")
    func keyScopes() async throws {
        let broker = try TestBroker.start(partitions: 2)
        let redis = try await TestRedisServer()
        let ingestor = try await TestIngestor(broker: broker, redis: redis)
        let url = "\(ingestor.apiURL)/v1/contacts/ada"
        func status(_ method: String, _ path: String, key: String?, body: String? = nil) async throws -> Int {
            var headers = [("Content-Type", "application/json")]
            if let key { headers.append(("Authorization", "Bearer \(key)")) }
            return try await client.send(method: method, url: path, headers: headers, body: body.map { Array($0.utf8) }).status
        }
        let profile = #"{"email":"ada@example.com"}"#
        // Ingest: events only; a valid key of another scope gets 403, not 401.
        #expect(try await post(ingestor, #"{"id":"s-1","type":"signup","contact_id":"ada"}"#).0 == 202)
        for (method, path) in [("GET", url), ("GET", "\(url)/journeys"), ("GET", "\(url)/messages"), ("PUT", url), ("PATCH", url), ("DELETE", url)] {
            #expect(try await status(method, path, key: TestIngestor.apiKey, body: method.hasPrefix("P") ? profile : nil) == 403, "ingest \(method) \(path)")
        }
        // Read: reads, but neither changes nor erases, nor posts events.
        #expect(try await status("PUT", url, key: TestIngestor.adminKey, body: profile) == 200)
        #expect(try await status("GET", url, key: TestIngestor.readKey) == 200)
        #expect(try await status("GET", "\(url)/journeys", key: TestIngestor.readKey) == 200)
        #expect(try await status("PATCH", url, key: TestIngestor.readKey, body: profile) == 403)
        #expect(try await status("DELETE", url, key: TestIngestor.readKey) == 403)
        #expect(
            try await status("POST", "\(ingestor.apiURL)/v1/events", key: TestIngestor.readKey, body: #"{"id":"s-2","type":"signup","contact_id":"ada"}"#)
                == 403)
        #expect(try await status("GET", "\(ingestor.apiURL)/v1/campaigns", key: TestIngestor.readKey) == 403)
        // No key, or an unknown one (one character off, or a prefix): 401.
        for key in [nil, "test-admin-ke", "test-admin-key2", "Test-admin-key"] {
            #expect(try await status("GET", url, key: key) == 401, "\(key ?? "no key")")
        }
        #expect(try await status("DELETE", url, key: TestIngestor.adminKey) == 204)
        await ingestor.process.stop()
        await redis.stop()
    }

    @Test("campaigns over HTTP: admin key only, invalid YAML refused with its line, publish and show")
    func campaigns() async throws {
        let broker = try TestBroker.start(partitions: 2)
        let redis = try await TestRedisServer()
        let ingestor = try await TestIngestor(broker: broker, redis: redis)
        let admin = [("Authorization", "Bearer \(TestIngestor.adminKey)"), ("Content-Type", "application/yaml")]
        let base = "\(ingestor.apiURL)/v1/campaigns"
        let good = try String(contentsOfFile: "\(BuiltProducts.packageRoot)/config/campaigns/abandoned-cart.yaml", encoding: .utf8)
        // The events key is not an admin key.
        #expect(try await client.send(method: "GET", url: base, headers: auth).status == 403)
        #expect(try await client.send(method: "GET", url: base).status == 401)
        let bad = "id: abandoned-cart\nlist: l\ntriggers: [purchase]\nsteps:\n  - id: a\n    wait: 2h\n    next: nowhere\n"
        let refused = try await client.send(method: "POST", url: "\(base)/abandoned-cart/publish", headers: admin, body: Array(bad.utf8))
        #expect(refused.status == 422)
        #expect(refused.bodyText.contains("unknown step 'nowhere'") && refused.bodyText.contains(#""line":5"#), "\(refused.bodyText)")
        let published = try await client.send(method: "POST", url: "\(base)/abandoned-cart/publish?mode=drain", headers: admin, body: Array(good.utf8))
        #expect(published.status == 200, "\(published.bodyText)")
        #expect(published.bodyText.contains(#""version":1"#))
        #expect(try await client.send(method: "POST", url: "\(base)/abandoned-cart/pause", headers: admin).status == 200)
        #expect(try await client.send(method: "POST", url: "\(base)/abandoned-cart/pause", headers: admin).status == 409)
        #expect(try await client.send(method: "POST", url: "\(base)/abandoned-cart/stop?mode=soon", headers: admin).status == 400)
        let shown = try JSONValue.parse(try await client.send(method: "GET", url: "\(base)/abandoned-cart", headers: admin).body)
        #expect(shown["state"] == "paused" && shown["published_version"] == .int(1))
        let yaml = try await client.send(method: "GET", url: "\(base)/abandoned-cart?yaml=published", headers: admin)
        #expect(yaml.bodyText == good)
        // A draft whose YAML names another campaign is refused and saves nothing,
        // neither under the URL's id nor under the YAML's.
        let other = good.replacingOccurrences(of: "id: abandoned-cart", with: "id: someone-else")
        let mismatch = try await client.send(method: "PUT", url: "\(base)/abandoned-cart/draft", headers: admin, body: Array(other.utf8))
        #expect(mismatch.status == 400 && mismatch.bodyText.contains("nothing was saved"), "\(mismatch.bodyText)")
        #expect(try await client.send(method: "GET", url: "\(base)/someone-else", headers: admin).status == 404)
        let drafts = try JSONValue.parse(try await client.send(method: "GET", url: base, headers: admin).body)
        #expect(drafts["campaigns"]?.arrayValue?.contains("someone-else") == false, "\(drafts)")
        // The same through heraldctl: publish makes version 2; validate refuses a bad file with exit 1.
        let dir = try temporaryDirectory("cli")
        let heraldctl = try BuiltProducts.executable("heraldctl")
        let publish = try ChildProcess(
            executable: heraldctl,
            arguments: [
                "campaigns", "publish", "\(BuiltProducts.packageRoot)/config/campaigns/abandoned-cart.yaml", "--mode", "now", "--api", ingestor.apiURL,
                "--admin-key", TestIngestor.adminKey,
            ],
            output: .file("\(dir)/publish.out"))
        #expect(await publish.wait() == 0)
        #expect(try String(contentsOfFile: "\(dir)/publish.out", encoding: .utf8).contains(#""version":2"#))
        try bad.write(toFile: "\(dir)/bad.yaml", atomically: true, encoding: .utf8)
        let validate = try ChildProcess(executable: heraldctl, arguments: ["campaigns", "validate", "\(dir)/bad.yaml"], output: .file("\(dir)/validate.out"))
        #expect(await validate.wait() == 1)
        #expect(try String(contentsOfFile: "\(dir)/validate.out", encoding: .utf8).contains("bad.yaml:5: step 'a' leads to unknown step 'nowhere'"))
        await ingestor.process.stop()
        await redis.stop()
    }

    @Test("SIGTERM while posting: the ingestor exits cleanly and every acknowledged event is on herald.events")
    func sigtermWhilePosting() async throws {
        let broker = try TestBroker.start(partitions: 4)
        let redis = try await TestRedisServer()
        let ingestor = try await TestIngestor(broker: broker, redis: redis)
        let run = uniqueName("term")
        let acknowledged = AcknowledgedIDs()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<4 {
                group.addTask {
                    var n = 0
                    while true {
                        let ids = (0..<50).map { "\(run)-\(worker)-\(n)-\($0)" }
                        n += 1
                        let body =
                            #"{"events":[\#(ids.map { #"{"id":"\#($0)","type":"page_visited","contact_id":"c-\#($0.hashValue % 50)"}"# }.joined(separator: ","))]}"#
                        guard let r = try? await client.postJSON("\(ingestor.apiURL)/v1/events", Array(body.utf8), headers: auth, timeout: .seconds(20)) else {
                            return  // connection refused/closed: the server is gone
                        }
                        if r.status == 202 { acknowledged.add(ids) }
                    }
                }
            }
            try await Task.sleep(for: .milliseconds(1500))
            ingestor.process.signal(SIGTERM)
            try await group.waitForAll()
        }
        let exit = await ingestor.process.wait(timeout: .seconds(30))
        #expect(exit == 0, "\(ingestor.log)")
        let acked = acknowledged.all
        #expect(acked.count > 0)
        let records = try await readTopic(Topics.events, bootstrapServers: broker.bootstrapServers) { records in
            records.count >= acked.count
        }
        let onKafka = Set(records.compactMap { try? Event(decoding: $0.value).id })
        let missing = acked.subtracting(onKafka)
        #expect(missing.isEmpty, "\(missing.count) acknowledged events are missing")
        await redis.stop()
    }
}

/// Ids acknowledged with 202, collected from concurrent posters.
final class AcknowledgedIDs: @unchecked Sendable {
    private var ids = Set<String>()
    private let lock = NSLock()
    func add(_ new: [String]) { lock.withLock { ids.formUnion(new) } }
    var all: Set<String> { lock.withLock { ids } }
}

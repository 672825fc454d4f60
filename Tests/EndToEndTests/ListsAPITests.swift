import Foundation
import HeraldChannels
import HeraldCore
import HeraldDevTools
import HeraldTestSupport
import Testing

@Suite("Lists over HTTP (real ingestor, real redis-server)", .timeLimit(.minutes(2)))
struct ListsAPITests {
    let client = HTTPClient(concurrency: 4)

    func call(_ ingestor: TestIngestor, _ method: String, _ path: String, _ body: String? = nil, key: String = TestIngestor.adminKey) async throws -> (
        status: Int, json: JSONValue
    ) {
        let r = try await client.send(
            method: method, url: "\(ingestor.apiURL)\(path)", headers: [("Authorization", "Bearer \(key)"), ("Content-Type", "application/json")],
            body: body.map { Array($0.utf8) })
        return (r.status, (try? JSONValue.parse(r.body)) ?? .null)
    }

    @Test("create, list with member counts, rename, delete (members taken off); refusals name the field; reads need read, changes admin")
    func lifecycle() async throws {
        let broker = try TestBroker.start(partitions: 2)
        let redis = try await TestRedisServer()
        let ingestor = try await TestIngestor(broker: broker, redis: redis)
        let created = try await call(ingestor, "POST", "/v1/lists", #"{"id":"newsletter","name":"Týdenní novinky"}"#)
        #expect(created.status == 201 && created.json["name"] == "Týdenní novinky" && created.json["members"] == 0, "\(created)")
        #expect(try await call(ingestor, "POST", "/v1/lists", #"{"id":"newsletter"}"#).status == 409)
        for (body, field) in [
            (#"{"id":""}"#, "id"), (#"{"id":"a\u0007b"}"#, "id"), (#"{"id":"x","colour":"red"}"#, "colour"), (#"{"name":"x"}"#, "id"),
            (#"{"id":"x","name":{}}"#, "name"), (#"{"id":7}"#, "id"),
        ] {
            let r = try await call(ingestor, "POST", "/v1/lists", body)
            #expect(r.status == 400 && r.json["field"]?.stringValue == field, "\(body): \(r)")
        }
        #expect(try await call(ingestor, "POST", "/v1/lists", #"{"id":"b2b"}"#).status == 201)
        for n in 0..<30 {
            let lists = n < 12 ? #"["newsletter"]"# : #"["b2b"]"#
            #expect(try await call(ingestor, "PUT", "/v1/contacts/c\(n)", #"{"lists":\#(lists),"tags":["t"]}"#).status == 200)
        }
        let all = try await call(ingestor, "GET", "/v1/lists", key: TestIngestor.readKey)
        #expect(
            all.json["lists"]?.arrayValue?.map { "\($0["id"]?.stringValue ?? ""):\($0["members"].map { String(describing: $0) } ?? "")" } == [
                "b2b:int(18)", "newsletter:int(12)",
            ], "\(all)")
        let renamed = try await call(ingestor, "PATCH", "/v1/lists/newsletter", #"{"name":"Weekly"}"#)
        #expect(renamed.status == 200 && renamed.json["name"] == "Weekly" && renamed.json["id"] == "newsletter")
        #expect(try await call(ingestor, "PATCH", "/v1/lists/nope", #"{"name":"x"}"#).status == 404)
        #expect(try await call(ingestor, "POST", "/v1/lists", #"{"id":"x"}"#, key: TestIngestor.readKey).status == 403)
        #expect(try await call(ingestor, "DELETE", "/v1/lists/b2b", key: TestIngestor.readKey).status == 403)
        // Deleting takes every member off the list; the contacts stay, with their other fields.
        let deleted = try await call(ingestor, "DELETE", "/v1/lists/newsletter")
        #expect(deleted.status == 200 && deleted.json["memberships_removed"] == 12, "\(deleted)")
        #expect(try await call(ingestor, "GET", "/v1/lists/newsletter").status == 404)
        #expect(try await call(ingestor, "DELETE", "/v1/lists/newsletter").status == 404)
        let ann = try await call(ingestor, "GET", "/v1/contacts/c0")
        #expect(ann.json["lists"] == [] && ann.json["tags"] == ["t"], "\(ann)")
        #expect(try await call(ingestor, "GET", "/v1/contacts?count=true&list=newsletter").json["count"] == 0)
        #expect(try await call(ingestor, "GET", "/v1/contacts?count=true").json["count"] == 30)
        // The CLI, over the same API.
        let dir = try temporaryDirectory("lists-cli")
        func heraldctl(_ arguments: [String]) async throws -> (Int32, String) {
            let cli = try ChildProcess(
                executable: try BuiltProducts.executable("heraldctl"),
                arguments: ["lists"] + arguments + ["--api", ingestor.apiURL, "--admin-key", TestIngestor.adminKey], output: .file("\(dir)/out"))
            let code = await cli.wait()
            return (code, (try? String(contentsOfFile: "\(dir)/out", encoding: .utf8)) ?? "")
        }
        #expect(try await heraldctl(["create", "vip", "--name", "VIP customers"]).0 == 0)
        #expect(try await heraldctl(["rename", "vip", "VIPs"]).0 == 0)
        let shown = try await heraldctl(["show", "vip"])
        #expect(shown.0 == 0 && shown.1.contains(#""name":"VIPs""#), "\(shown)")
        #expect(try await heraldctl(["create", "vip"]).0 != 0, "a second create fails")
        #expect(try await heraldctl(["delete", "vip"]).0 == 0)
        await ingestor.process.stop()
        await redis.stop()
    }
}

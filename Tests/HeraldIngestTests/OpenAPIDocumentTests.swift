import Foundation
import HeraldCore
import HeraldService
import Hummingbird
import Logging
import Synchronization
import Testing

@testable import HeraldIngest

@Suite("The API contract: the OpenAPI document, problem details, cursor pages")
struct OpenAPIDocumentTests {
    static let methods = ["get", "put", "post", "patch", "delete"]

    static func document() throws -> JSONValue { try JSONValue.parse(OpenAPIDocument.json) }

    @Test("the document names exactly the routes the ingestor's router serves, method by method")
    func everyRoute() throws {
        let settings = try Configuration.load(file: "", environment: ["HERALD_DEV_MODE": "true"], overrides: []).settings()
        let runtime = try WorkerRuntime(worker: .ingestor, settings: settings, logger: Logger(label: "test"))
        let served = Set(IngestorApp.router(runtime: runtime).routes.map { "\($0.method.rawValue) \($0.path.description)" })
        var described = Set<String>()
        for (path, item) in try Self.document()["paths"]?.objectValue ?? [:] {
            for method in Self.methods where item[method] != nil { described.insert("\(method.uppercased()) \(path)") }
        }
        #expect(served.count > 60, "\(served.sorted())")
        #expect(served.subtracting(described).sorted() == [], "served but not in the document")
        #expect(described.subtracting(served).sorted() == [], "in the document but not served")
    }

    @Test("OpenAPI 3.1 with this build's version; every $ref resolves; every operation has a unique id, and every keyed one its 401 and 403")
    func wellFormed() throws {
        let doc = try Self.document()
        #expect(doc["openapi"]?.stringValue == "3.1.0")
        #expect(doc["info"]?["version"]?.stringValue == HeraldVersion.current)
        var refs: [String] = []
        func walk(_ v: JSONValue) {
            switch v {
            case .object(let o):
                if let r = o["$ref"]?.stringValue { refs.append(r) }
                o.values.forEach(walk)
            case .array(let a): a.forEach(walk)
            default: break
            }
        }
        walk(doc)
        #expect(refs.count > 300)
        for ref in Set(refs) {
            var node: JSONValue? = doc
            for part in ref.dropFirst(2).split(separator: "/") { node = node?[String(part)] }
            #expect(node != nil, "\(ref) resolves to nothing")
        }
        var ids = Set<String>()
        for (path, item) in doc["paths"]?.objectValue ?? [:] {
            for method in Self.methods {
                guard let op = item[method] else { continue }
                let id = op["operationId"]?.stringValue ?? ""
                #expect(!id.isEmpty && ids.insert(id).inserted, "\(method) \(path): operationId '\(id)' missing or repeated")
                let open = op["security"]?.arrayValue?.isEmpty == true
                if !open {
                    #expect(op["responses"]?["401"] != nil && op["responses"]?["403"] != nil, "\(method) \(path) needs a key but documents no 401/403")
                }
            }
        }
    }

    @Test("an error answer is RFC 9457 problem details: its media type, type, title, status, detail and field, and a route's own members")
    func problem() async throws {
        let response = APISupport.problem(.conflict, "list 'x' exists", field: "id", extra: ["state": "draft"], headers: [.retryAfter: "1"])
        #expect(response.status == .conflict)
        #expect(response.headers[.contentType] == "application/problem+json")
        #expect(response.headers[.retryAfter] == "1")
        let body = try await Self.body(response)
        #expect(body["type"]?.stringValue == "about:blank")
        #expect(body["title"]?.stringValue == "Conflict")
        #expect(body["status"] == .int(409))
        #expect(body["detail"]?.stringValue == "list 'x' exists")
        #expect(body["field"]?.stringValue == "id")
        #expect(body["state"]?.stringValue == "draft")
    }

    static func request(_ query: String) -> Request {
        Request(
            head: .init(method: .get, scheme: "http", authority: "localhost", path: "/v1/lists" + (query.isEmpty ? "" : "?" + query)),
            body: .init(buffer: .init()))
    }

    static func page(_ items: [String], _ query: String) throws(ResponseError) -> KeyedPage {
        try KeyedPage(items, key: { $0 }, request: request(query), json: JSONValue.string)
    }

    @Test("cursor pages: in key order, none skipped or repeated while items are added and removed between pages; the last page's cursor is null")
    func pages() throws {
        var items = (0..<25).map { String(format: "item-%03d", $0 * 2) }
        var seen: [String] = []
        var cursor: String?
        var rounds = 0
        repeat {
            let page = try Self.page(items, "limit=4" + (cursor.map { "&cursor=\($0)" } ?? ""))
            let got = page.items.compactMap(\.stringValue)
            #expect(got.count <= 4)
            seen += got
            cursor = page.next
            // Between pages: one item already seen goes, one new one lands behind and one ahead.
            items.removeAll { $0 == seen.first }
            items.append(String(format: "item-%03d", rounds * 2 + 1))
            items.append(String(format: "item-%03d", 100 + rounds))
            rounds += 1
        } while cursor != nil && rounds < 100
        #expect(cursor == nil)
        #expect(seen == seen.sorted() && Set(seen).count == seen.count, "\(seen)")
        // Every original item was seen (none skipped), though one was removed once seen.
        #expect(Set((0..<25).map { String(format: "item-%03d", $0 * 2) }).isSubset(of: Set(seen)))
        let all = try Self.page(["b", "a"], "")
        #expect(all.items == [.string("a"), .string("b")] && all.next == nil)
        #expect(all.json("lists")["next_cursor"] == .null)
    }

    @Test("a bad limit or cursor is a 400 naming it")
    func badPages() async throws {
        let cases = [
            ("limit=0", "limit"), ("limit=1001", "limit"), ("limit=x", "limit"), ("cursor=%25%25", "cursor"),
            ("cursor=" + String(repeating: "A", count: 5000), "cursor"),
        ]
        for (query, field) in cases {
            do {
                _ = try Self.page(["a"], query)
                Issue.record("\(query) was accepted")
            } catch {
                #expect(error.response.status == .badRequest)
                #expect(try await Self.body(error.response)["field"]?.stringValue == field, "\(query)")
            }
        }
    }

    /// A response's body as JSON.
    static func body(_ response: Response) async throws -> JSONValue {
        let writer = CollectingWriter()
        try await response.body.write(writer)
        return try JSONValue.parse(writer.bytes.withLock { $0 })
    }
}

/// Collects a response body's bytes.
final class CollectingWriter: ResponseBodyWriter, Sendable {
    let bytes = Mutex<[UInt8]>([])
    func write(_ buffer: ByteBuffer) async throws { bytes.withLock { $0 += Array(buffer.readableBytesView) } }
    func finish(_ trailingHeaders: HTTPFields?) async throws {}
}

@Suite("RouteTable: which methods a path takes, for 405's Allow")
struct RouteTableTests {
    @Test("a literal segment wins over a capture; captures match any one segment; an unknown path takes nothing")
    func methods() {
        let table = RouteTable()
        table.load([
            ("/v1/alerts", "GET"), ("/v1/alerts", "POST"), ("/v1/alerts/validate", "POST"), ("/v1/alerts/{id}", "GET"), ("/v1/alerts/{id}", "PUT"),
            ("/v1/alerts/{id}", "DELETE"), ("/v1/alerts/{id}/enable", "POST"),
        ])
        #expect(table.methods(for: "/v1/alerts/validate") == ["POST"])
        #expect(table.methods(for: "/v1/alerts/vip") == ["DELETE", "GET", "PUT"])
        #expect(table.methods(for: "/v1/alerts") == ["GET", "POST"])
        #expect(table.methods(for: "/v1/alerts/vip/enable") == ["POST"])
        #expect(table.methods(for: "/v1/alerts/vip/other") == [])
        #expect(table.methods(for: "/v2/alerts") == [])
    }
}

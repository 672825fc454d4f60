import HeraldChannels
import HeraldService
import HeraldTestSupport
import Testing

@Suite("HTTP client on libcurl's multi interface", .serialized, .timeLimit(.minutes(2)))
struct HTTPClientTests {
    @Test("send(many:) gives each request its own result, in order; a refused connection fails only its request")
    func many() async throws {
        let receiver = try await TestWebhookReceiver()
        defer { receiver.stop() }
        let client = HTTPClient(concurrency: 4)
        let refused = "http://127.0.0.1:\(freeTCPPort())/hook"  // nothing listens there
        var requests = (0..<40).map { HTTPRequest.postJSON(receiver.url, Array(#"{"n":\#($0)}"#.utf8), headers: [("X-N", "\($0)")]) }
        requests[17] = .postJSON(refused, Array("{}".utf8))
        let exchanges = await client.send(many: requests)
        #expect(exchanges.count == 40)
        for (i, exchange) in exchanges.enumerated() {
            switch exchange.result {
            case .success(let response) where i != 17:
                #expect(response.status == 200)
                // Header lines are split on bytes and trimmed.
                #expect(response.header("Content-Length") == "0", "\(response.headers)")
            case .failure(let error) where i == 17:
                #expect(error.code == .connection, "\(error)")
            default:
                Issue.record("request \(i): \(exchange.result)")
            }
        }
        // Every other request arrived once, with its own body and header.
        let got = receiver.received.map { ($0.headers["x-n"] ?? "", String(decoding: $0.body, as: UTF8.self)) }
        #expect(got.count == 39)
        #expect(Set(got.map(\.0)) == Set((0..<40).filter { $0 != 17 }.map(String.init)))
        #expect(got.allSatisfy { n, body in body == #"{"n":\#(n)}"# })
        // The single-request API rides on the same engine.
        #expect(try await client.get(receiver.url.replacingOccurrences(of: "/hook", with: "/missing")).status == 404)
    }
}

import HeraldChannels
import HeraldService
import HeraldTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

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
        // A name to resolve (curl's resolver reports through the engine's sockets and timer).
        requests[23].url = receiver.url.replacingOccurrences(of: "127.0.0.1", with: "localhost")
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

    @Test("a server that never answers times the request out on time; requests sent after it are answered meanwhile")
    func timeout() async throws {
        let receiver = try await TestWebhookReceiver()
        defer { receiver.stop() }
        // Listens, so the connection is made (by the kernel), but never reads or answers.
        let silent = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(silent) }
        let port = try #require(bindLoopback(silent))
        #expect(listen(silent, 16) == 0)
        let client = HTTPClient(concurrency: 4)
        let started = ContinuousClock.now
        async let stuck = client.send(many: [.postJSON("http://127.0.0.1:\(port)/hook", Array("{}".utf8), timeout: .milliseconds(300))])
        // The wait for the silent server holds up nothing else.
        var firstAnswered: Duration?
        for round in 0..<5 {
            let answered = await client.send(many: (0..<8).map { HTTPRequest.postJSON(receiver.url, Array(#"{"round":\#(round),"n":\#($0)}"#.utf8)) })
            #expect(answered.allSatisfy { (try? $0.result.get().status) == 200 }, "\(answered.map(\.result))")
            firstAnswered = firstAnswered ?? ContinuousClock.now - started
        }
        let result = await stuck[0].result
        let waited = ContinuousClock.now - started
        switch result {
        case .failure(let error): #expect(error.code == .timeout, "\(error)")
        case .success(let response): Issue.record("a silent server answered \(response.status)")
        }
        #expect(firstAnswered.map { $0 < waited } == true, "the other requests waited for the silent one: \(String(describing: firstAnswered)), \(waited)")
        // curl's own timer ends it, not the loop's idle wake-up (once a second).
        #expect(waited >= .milliseconds(300) && waited < .milliseconds(900), "timed out after \(waited)")
        #expect(receiver.received.count == 40)
    }
}

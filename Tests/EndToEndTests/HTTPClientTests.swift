import Foundation
import HeraldChannels
import HeraldCore
import HeraldDevTools
import HeraldService
import HeraldTestSupport
import Synchronization
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

    /// Python's http.server on a free loopback port serving `directory`; its log (one line per request) in `directory/log`.
    ///
    /// Ready only when it serves this directory's own marker: a free port can be
    /// taken by another test's server before Python binds it (tests run side by
    /// side), and a bare answer on the port once let these tests talk to that
    /// other server (a 3 MiB body "passed" a 1 MiB cap; seen on CI, 2026-12-07).
    /// Then it starts again on another port.
    func pythonServer(_ directory: String) async throws -> (ChildProcess, Int) {
        let marker = UUID().uuidString
        try marker.write(toFile: "\(directory)/marker", atomically: true, encoding: .utf8)
        let client = HTTPClient(concurrency: 1)
        for _ in 0..<5 {
            let port = freeTCPPort()
            let server = try ChildProcess(
                executable: "/usr/bin/env", arguments: ["python3", "-u", "-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", directory],
                output: .file("\(directory)/log"))
            for _ in 0..<50 {
                if case .success(let r) = await client.send(many: [HTTPRequest(method: "GET", url: "http://127.0.0.1:\(port)/marker")])[0].result,
                    r.status == 200, r.bodyText == marker
                {
                    return (server, port)
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            server.signal(SIGKILL)
        }
        throw HTTPTestError("python's http.server did not start on a port of its own")
    }

    @Test(
        "an address policy is applied to the address connected to: loopback refused by name and by number, allowed when listed; a refused request never reaches the server"
    )
    func addressPolicy() async throws {
        let dir = try temporaryDirectory("policy")
        try "hello".write(toFile: "\(dir)/page", atomically: true, encoding: .utf8)
        let (server, port) = try await pythonServer(dir)
        defer { server.signal(SIGKILL) }
        let client = HTTPClient(concurrency: 2)
        let requestsBefore = try String(contentsOfFile: "\(dir)/log", encoding: .utf8).components(separatedBy: "\"GET ").count
        for host in ["127.0.0.1", "localhost"] {
            let refused = await client.send(many: [HTTPRequest(method: "GET", url: "http://\(host):\(port)/page", addressPolicy: AddressPolicy())])
            guard case .failure(let error) = refused[0].result else { Issue.record("\(host) was reached: \(refused[0].result)"); continue }
            #expect(error.code == .refused && error.message.contains("is not public"), "\(error)")
        }
        try await Task.sleep(for: .milliseconds(200))
        let requestsAfter = try String(contentsOfFile: "\(dir)/log", encoding: .utf8).components(separatedBy: "\"GET ").count
        #expect(requestsAfter == requestsBefore, "a refused request reached the server")
        let allowed = await client.send(many: [
            HTTPRequest(method: "GET", url: "http://localhost:\(port)/page", addressPolicy: AddressPolicy(allowed: [AddressPolicy.Network("127.0.0.0/8")!]))
        ])
        guard case .success(let r) = allowed[0].result else { Issue.record("\(allowed[0].result)"); return }
        // Seen once under a full test run (not alone): the answer says what answered.
        #expect(r.status == 200 && r.bodyText == "hello", "HTTP \(r.status): \(r.bodyText.prefix(200))")
    }

    @Test("a body file is sent as it is read, byte for byte; a file that cannot be read fails the request with its path")
    func bodyFile() async throws {
        let receiver = try await TestWebhookReceiver()
        defer { receiver.stop() }
        let dir = try temporaryDirectory("upload")
        let content = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try Data(content).write(to: URL(fileURLWithPath: "\(dir)/body"))
        let client = HTTPClient(concurrency: 2)
        var request = HTTPRequest(method: "POST", url: receiver.url, headers: [("Content-Type", "text/csv")])
        request.bodyFile = "\(dir)/body"
        var missing = request
        missing.bodyFile = "\(dir)/nothing-here"
        let results = await client.send(many: [request, missing])
        #expect((try? results[0].result.get().status) == 200, "\(results[0].result)")
        #expect(receiver.received.count == 1 && receiver.received.first?.body == content)
        guard case .failure(let error) = results[1].result else { Issue.record("a missing file was sent"); return }
        #expect(error.message.contains("cannot read \(dir)/nothing-here"), "\(error)")
    }

    @Test("a response body over the request's cap ends the transfer with an error instead of filling memory")
    func responseCap() async throws {
        let dir = try temporaryDirectory("bigbody")
        try Data(repeating: 0x61, count: 3 << 20).write(to: URL(fileURLWithPath: "\(dir)/big"))
        let (server, port) = try await pythonServer(dir)
        defer { server.signal(SIGKILL) }
        let client = HTTPClient(concurrency: 2)
        var request = HTTPRequest(method: "GET", url: "http://127.0.0.1:\(port)/big")
        guard case .failure(let error) = await client.send(many: [request])[0].result else { Issue.record("a 3 MiB body passed a 1 MiB cap"); return }
        #expect(error.message.contains("over 1048576 bytes"), "\(error)")
        request.maxResponseBytes = 4 << 20
        guard case .success(let r) = await client.send(many: [request])[0].result else { Issue.record("a 4 MiB cap refused 3 MiB"); return }
        #expect(r.body.count == 3 << 20)
    }

    @Test("a server that never answers times the request out on time; requests sent after it are answered meanwhile")
    func timeout() async throws {
        let receiver = try await TestWebhookReceiver()
        defer { receiver.stop() }
        // Listens, so the connection is made (by the kernel), but never reads or answers.
        func silentServer() throws -> (fd: Int32, port: Int) {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
            let port = try #require(bindLoopback(fd))
            #expect(listen(fd, 16) == 0)
            return (fd, port)
        }
        let (silent, port) = try silentServer()
        defer { close(silent) }
        // A second one, for a request with a long timeout that the rounds below
        // must not wait for (the short one may end before the first round does
        // on a loaded machine).
        let (silentLong, longPort) = try silentServer()
        defer { close(silentLong) }
        let client = HTTPClient(concurrency: 4)
        let started = ContinuousClock.now
        // Each with its own end time: the rounds below may outlast the short one.
        func silentRequest(_ port: Int, timeout: Duration) async -> (HTTPExchange, Duration) {
            let exchanges = await client.send(many: [.postJSON("http://127.0.0.1:\(port)/hook", Array("{}".utf8), timeout: timeout)])
            return (exchanges[0], ContinuousClock.now - started)
        }
        async let stuck = silentRequest(port, timeout: .milliseconds(300))
        async let stuckLong = silentRequest(longPort, timeout: .seconds(3))
        // The waits for the silent servers hold up nothing else.
        var firstAnswered: Duration?
        for round in 0..<5 {
            let answered = await client.send(many: (0..<8).map { HTTPRequest.postJSON(receiver.url, Array(#"{"round":\#(round),"n":\#($0)}"#.utf8)) })
            #expect(answered.allSatisfy { (try? $0.result.get().status) == 200 }, "\(answered.map(\.result))")
            firstAnswered = firstAnswered ?? ContinuousClock.now - started
        }
        let (exchange, waited) = await stuck
        let result = exchange.result
        // The code must say what the server got: on a loaded machine curl can
        // still be short of writing the request when its 300 ms run out, and
        // then "nothing was sent" (`.connection`) is the true answer. The kernel
        // queued the connection; whatever curl wrote waits in it unread.
        _ = fcntl(silent, F_SETFL, fcntl(silent, F_GETFL) | O_NONBLOCK)
        let peer = accept(silent, nil, nil)
        defer { if peer >= 0 { close(peer) } }
        var byte: UInt8 = 0
        let serverGotBytes = peer >= 0 && recv(peer, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT)) == 1
        switch result {
        case .failure(let error): #expect(error.code == (serverGotBytes ? .timeout : .connection), "server got bytes: \(serverGotBytes); \(error)")
        case .success(let response): Issue.record("a silent server answered \(response.status)")
        }
        let (_, waitedLong) = await stuckLong
        #expect(waitedLong >= .seconds(3))
        #expect(
            firstAnswered.map { $0 < waitedLong } == true, "the other requests waited for a silent one: \(String(describing: firstAnswered)), \(waitedLong)")
        // curl's own timer ends it, not the loop's idle wake-up (once a second).
        #expect(waited >= .milliseconds(300) && waited < .milliseconds(900), "timed out after \(waited)")
        #expect(receiver.received.count == 40)
    }

    @Test("connections the server closes between requests, with or without saying so, are replaced: every later request is answered")
    func closedConnections() async throws {
        let server = try ClosingServer()
        defer { server.stop() }
        let client = HTTPClient(concurrency: 2)
        let started = ContinuousClock.now
        for round in 0..<30 {
            let answered = await client.send(many: (0..<2).map { HTTPRequest.postJSON("http://127.0.0.1:\(server.port)/r\(round)-\($0)", Array("{}".utf8)) })
            for exchange in answered {
                switch exchange.result {
                case .success(let response): #expect(response.status == 200 && response.bodyText == "ok", "round \(round)")
                case .failure(let error): Issue.record("round \(round): \(error)")
                }
            }
            // Time for the server's close to arrive while the connection sits idle.
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(server.served.load(ordering: .relaxed) == 60)
        // About 0.3 s. A new connection whose socket reuses a number the engine
        // still believed watched would wait for a timeout instead.
        #expect(ContinuousClock.now - started < .seconds(5), "took \(ContinuousClock.now - started)")
    }
}

/// An HTTP server that answers one request per connection and closes it: every
/// other answer says `Connection: close`, the others do not (a keep-alive
/// connection the server then drops while it is idle). So the client's
/// connections, and their socket numbers, keep being replaced.
final class ClosingServer: Sendable {
    let port: Int
    let served = Atomic<Int>(0)
    private let listener: Int32
    private let stopping = Atomic<Bool>(false)

    init() throws {
        // Close-on-exec, the accepted connections too: a process another test
        // starts meanwhile would otherwise keep a copy of a connection this
        // server closed, and the client would wait on it (seen in CI: 7.8 s).
        listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard let port = bindLoopback(listener), listen(listener, 64) == 0 else { throw POSIXError(.EADDRNOTAVAIL) }
        self.port = port
        Thread.detachNewThread { [self] in serve() }
    }

    func stop() {
        stopping.store(true, ordering: .relaxed)
        shutdown(listener, Int32(SHUT_RDWR))
    }

    private func serve() {
        var n = 0
        while !stopping.load(ordering: .relaxed) {
            let fd = accept(listener, nil, nil)
            guard fd >= 0 else { continue }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)  // (accept4 is not in Swift's Glibc)
            var request: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            // Head, then the body its Content-Length announces ("{}": 2 bytes).
            while !(request.count >= 4 && request.suffix(2) == Array("{}".utf8)) {
                let got = read(fd, &buffer, buffer.count)
                if got <= 0 { break }
                request += buffer[0..<got]
            }
            n += 1
            let close = n % 2 == 0 ? "Connection: close\r\n" : ""
            let answer = Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\(close)\r\nok".utf8)
            _ = answer.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            served.add(1, ordering: .relaxed)
            Glibc.close(fd)
        }
        Glibc.close(listener)
    }
}

struct HTTPTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

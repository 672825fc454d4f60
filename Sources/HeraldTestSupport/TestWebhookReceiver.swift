import Foundation
import Glibc
import HeraldDevTools
import HeraldService
import Hummingbird
import Logging
import ServiceLifecycle
import Synchronization

/// An HTTP endpoint standing in for a customer's webhook receiver: answers each
/// POST with the next status of `statuses` (then 200) and records what came.
public final class TestWebhookReceiver: Sendable {
    /// One request as it arrived.
    public struct Received: Sendable {
        /// Its headers, names lower-cased.
        public var headers: [String: String]
        /// Its body.
        public var body: [UInt8]
    }

    /// The loopback port it listens on.
    public let port: Int
    /// The URL a webhook step should call.
    public var url: String { "http://127.0.0.1:\(port)/hook" }
    private let recorder: Recorder
    private let task: Task<Void, any Error>

    /// Starts a receiver answering with `statuses` in turn, then 200.
    public init(statuses: [Int] = []) async throws {
        let port = freeTCPPort()
        self.port = port
        let recorder = Recorder(statuses: statuses)
        self.recorder = recorder
        let router = Router()
        router.post("hook") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            var headers: [String: String] = [:]
            // Names lowercased (HTTP field names are case-insensitive).
            for field in request.headers { headers[field.name.canonicalName] = field.value }
            let status = recorder.record(Received(headers: headers, body: Array(buffer: body)))
            return Response(status: .init(code: status))
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: Logger(label: "webhook-receiver"))
        task = Task { try await app.runService(gracefulShutdownSignals: []) }
        for _ in 0..<100 where !isListening(port: port) { try await Task.sleep(for: .milliseconds(50)) }
    }

    /// Every request so far, in order.
    public var received: [Received] { recorder.received }

    /// Stops listening.
    public func stop() { task.cancel() }
}

/// Whether something accepts connections on a local port (one quick connect).
func isListening(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        == 0
}

private final class Recorder: Sendable {
    private let state: Mutex<(statuses: [Int], received: [TestWebhookReceiver.Received])>

    init(statuses: [Int]) { state = Mutex((statuses, [])) }

    /// Records a request; returns the status to answer.
    func record(_ r: TestWebhookReceiver.Received) -> Int {
        state.withLock { s in
            s.received.append(r)
            return s.statuses.isEmpty ? 200 : s.statuses.removeFirst()
        }
    }

    var received: [TestWebhookReceiver.Received] { state.withLock { $0.received } }
}

import ArgumentParser
import Foundation
import HeraldCore
import HeraldKafka
import HeraldService
import Hummingbird
import Logging
import Synchronization

/// `heraldctl bench send`: webhook messages per second through the running
/// stack's sender to a local receiver in this process (it answers 200 at once),
/// with the sender's limit checks on (the dev stack sets its limits high).
struct BenchSend: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send",
        abstract: "Produce N webhook send requests and measure how fast the running sender delivers them to a local receiver.")

    @Option(help: "Send requests to produce.") var count = 100_000
    @Option(help: "Distinct contacts the requests are spread over.") var contacts = 10_000
    @Option(help: "Broker address (default: the dev stack's).") var bootstrap: String?

    func run() async throws {
        var logger = Logger(label: "heraldctl.bench")
        logger.logLevel = .warning
        let servers = try resolveBootstrap(bootstrap)
        let counter = ReceiptCounter()
        let port = freeTCPPort()
        let router = Router()
        router.post("hook") { request, _ -> Response in
            _ = try await request.body.collect(upTo: 1 << 20)
            counter.received()
            return Response(status: .ok)
        }
        // The receiver's own logger stays quiet: cancelling it at the end is expected.
        var serverLogger = logger
        serverLogger.logLevel = .critical
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: serverLogger)
        let server = Task { try await app.runService(gracefulShutdownSignals: []) }
        defer { server.cancel() }
        try await Task.sleep(for: .milliseconds(500))

        let run = String(UInt32.random(in: 0...UInt32.max), radix: 36)
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: servers, clientId: "bench-send-\(run)"), logger: logger)
        // The sender's own CPU per message says what one process does with a core
        // to itself; here it shares two with Redis, the broker and the receiver.
        let cpuBefore = cpuSeconds(processNamed: "herald-sender")
        let produceStart = ContinuousClock.now
        for start in stride(from: 0, to: count, by: 10_000) {
            let records = (start..<min(count, start + 10_000)).map { i -> KafkaOutgoingRecord in
                let r = SendRequest(
                    id: "bench-send-\(run):\(i)", contactId: "bench-send-\(i % contacts)", campaignId: "bench-send-\(run)",
                    channel: "webhook", template: "http://127.0.0.1:\(port)/hook", category: "promo")
                return KafkaOutgoingRecord(topic: Topics.sends, key: r.contactId, value: r.json.serialized())
            }
            for case .failure(let error) in await producer.send(records) { throw error }
        }
        await producer.close()
        print(String(format: "produced %d webhook send requests in %.1f s", count, Double((ContinuousClock.now - produceStart).milliseconds) / 1000))
        fflush(nil)
        let deadline = ContinuousClock.now + .seconds(Int64(count / 500 + 60))
        while counter.count < count && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(200)) }
        let (n, first, last) = counter.snapshot()
        let span = Double((last - first).milliseconds) / 1000
        print(String(format: "received %d of %d webhooks; %.0f messages/s (first to last receipt, %.1f s)", n, count, Double(n) / max(span, 0.001), span))
        if let c0 = cpuBefore, let c1 = cpuSeconds(processNamed: "herald-sender"), c1 > c0 {
            print(String(format: "herald-sender used %.1f CPU-s: %.0f µs per message, %.0f messages per CPU-second", c1 - c0, (c1 - c0) * 1e6 / Double(max(n, 1)), Double(n) / (c1 - c0)))
        }
        fflush(nil)
    }
}

/// Counts receipts and remembers the first and last time.
final class ReceiptCounter: Sendable {
    private let state = Mutex<(count: Int, first: ContinuousClock.Instant?, last: ContinuousClock.Instant?)>((0, nil, nil))

    func received() {
        let now = ContinuousClock.now
        state.withLock { s in
            s.count += 1
            if s.first == nil { s.first = now }
            s.last = now
        }
    }

    var count: Int { state.withLock { $0.count } }

    func snapshot() -> (Int, ContinuousClock.Instant, ContinuousClock.Instant) {
        state.withLock { s in (s.count, s.first ?? .now, s.last ?? .now) }
    }
}

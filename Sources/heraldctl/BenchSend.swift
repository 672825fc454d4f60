import ArgumentParser
import Foundation
import HeraldChannels
import HeraldCore
import HeraldKafka
import HeraldRedis
import HeraldService
import Logging
import Synchronization

/// `heraldctl bench send`: webhook messages per second through the running
/// stack's sender to a local receiver in this process (`BenchReceiver`: it
/// answers 200 at once),
/// with the sender's limit checks on (the dev stack sets its limits high).
struct BenchSend: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send",
        abstract: "Produce N webhook send requests and measure how fast the running sender delivers them to a local receiver.")

    @Option(help: "Send requests to produce.") var count = 100_000
    @Option(help: "Distinct contacts the requests are spread over.") var contacts = 10_000
    @Option(help: "Broker address (default: the dev stack's).") var bootstrap: String?
    @Option(help: "Overshoot mode: start this many sender processes of its own, sharing --limit (needs the dev stack without its sender: `heraldctl dev --workers ingestor,scheduler,alerter`).")
    var senders = 0
    @Option(help: "Overshoot mode: the webhook limit, messages per second, all senders together.") var limit = 200
    @Option(help: "Partitions of the stack's topics (the dev stack's default).") var partitions = 24
    @Option(help: "With --preload: run the sender on this CPU only (`taskset -c`), to measure one process with a core of its own; pin the rest elsewhere yourself (docs/benchmarks.md).")
    var senderCPU: Int?
    @Flag(help: "Produce every request first, then start one sender of its own (limits set high) and time it through the backlog (needs the dev stack without its sender: `heraldctl dev --workers ingestor,scheduler,alerter`).")
    var preload = false

    func validate() throws {
        if preload, senders > 0 { throw ValidationError("--preload starts one sender of its own; it does not go with --senders") }
        if senderCPU != nil, !preload { throw ValidationError("--sender-cpu pins the sender that --preload starts: use it with --preload") }
        // The mock broker keeps 5 MB per partition (DESIGN.md); a request is about 400 bytes there.
        if preload, count > 4_000_000 / 400 * partitions {
            throw ValidationError("--preload keeps every request in the broker at once (5 MB per partition): at most \(4_000_000 / 400 * partitions) for \(partitions) partitions")
        }
    }

    func run() async throws {
        var logger = Logger(label: "heraldctl.bench")
        logger.logLevel = .warning
        let servers = try resolveBootstrap(bootstrap)
        let counter = ReceiptCounter()
        let receiver = try BenchReceiver { counter.received(id: $0) }
        defer { receiver.stop() }
        let port = receiver.port

        // The bench's own senders must be the only ones: the stack's would take
        // requests as they are produced, with limits of its own.
        if senders > 0 || preload, cpuSeconds(processNamed: "herald-sender") != nil {
            throw CLIError("--senders and --preload start senders of their own, and one is already running: start the dev stack without it, `heraldctl dev --workers ingestor,scheduler,alerter`")
        }
        var fleet: [ChildProcess] = []
        if senders > 0 { fleet = try await startSenders(servers, count: senders, limit: limit) }
        defer { for child in fleet { child.signal(SIGKILL) } }

        let run = String(UInt32.random(in: 0...UInt32.max), radix: 36)
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: servers, clientId: "bench-send-\(run)"), logger: logger)
        // The sender's own CPU per message says what one process does with a core
        // to itself; here it shares two with Redis, the broker and the receiver.
        var cpuBefore = cpuSeconds(processNamed: "herald-sender")
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
        if preload {
            // Limits as high as the dev stack's: checked on every message, never binding.
            fleet = try await startSenders(servers, count: 1, limit: 1_000_000, settle: false)
            cpuBefore = cpuSeconds(processNamed: "herald-sender")
        }
        let deadline = ContinuousClock.now + .seconds(Int64(count / (senders > 0 ? max(1, limit / 2) : 500) + 60))
        while counter.count < count && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(200)) }
        let (n, first, last) = counter.snapshot()
        let span = Double((last - first).milliseconds) / 1000
        print(String(format: "received %d of %d webhooks; %.0f messages/s (first to last receipt, %.1f s)", n, count, Double(n) / max(span, 0.001), span))
        if senders == 0, let c0 = cpuBefore, let c1 = cpuSeconds(processNamed: "herald-sender"), c1 > c0 {
            print(String(format: "herald-sender used %.1f CPU-s: %.0f µs per message, %.0f messages per CPU-second", c1 - c0, (c1 - c0) * 1e6 / Double(max(n, 1)), Double(n) / (c1 - c0)))
        }
        if senders > 0 {
            try await reportOvershoot(ids: (0..<count).map { ("bench-send-\($0 % contacts)", "bench-send-\(run):\($0)") }, receipts: counter.receipts())
        }
        for child in fleet { _ = await child.stop(grace: .seconds(20)) }
        fflush(nil)
    }

    /// Starts `count` herald-sender processes on the dev stack's broker and
    /// Redis, with the webhook limit at `limit`, and waits until they are ready
    /// and (with `settle`) the group has settled.
    func startSenders(_ bootstrap: String, count senders: Int, limit: Int, settle: Bool = true) async throws -> [ChildProcess] {
        guard let redisPort = devRedisPort(), let secret = try? String(contentsOfFile: "\(DevPaths.root)/webhook-secret", encoding: .utf8) else {
            throw CLIError("no dev stack found (.herald/dev/redis.port, webhook-secret): start `heraldctl dev --workers ingestor,scheduler,alerter`")
        }
        var fleet: [ChildProcess] = []
        let client = HTTPClient(concurrency: 2)
        for i in 0..<senders {
            let metricsPort = freeTCPPort()
            fleet.append(try await startBenchWorker(
                "herald-sender", log: "bench-sender-\(i)", metricsPort: metricsPort,
                environment: [
                    "HERALD_KAFKA_BOOTSTRAP_SERVERS": bootstrap, "HERALD_KAFKA_PARTITIONS": String(partitions), "HERALD_REDIS_PORT": String(redisPort),
                    "HERALD_SENDER_METRICS_PORT": String(metricsPort), "HERALD_SENDER_WEBHOOK_SECRET": secret.trimmingCharacters(in: .whitespacesAndNewlines),
                    "HERALD_LIMITS_WEBHOOK_PER_SECOND": String(limit), "HERALD_LIMITS_MARKETING_PER_CONTACT_PER_DAY": "1000000",
                ],
                cpu: senderCPU, client: client))
        }
        if settle { try await Task.sleep(for: .seconds(5)) }  // every member owns partitions before anything is produced
        print("started \(senders) herald-sender process\(senders == 1 ? "" : "es") sharing a webhook limit of \(limit)/s")
        return fleet
    }

    /// The worst second, by when each message took its limit slot (`attempt_ms`,
    /// Redis's record of the claim) and by when the receiver got it.
    func reportOvershoot(ids: [(contact: String, id: String)], receipts: [String: Int64]) async throws {
        guard let redisPort = devRedisPort() else { return }
        let store = MessageStore(redis: RedisPool(configuration: RedisConfiguration(host: "127.0.0.1", port: redisPort), logger: Logger(label: "bench")), partitions: partitions)
        var starts: [String: Int64] = [:]
        for chunk in stride(from: 0, to: ids.count, by: 200).map({ ids[$0..<min(ids.count, $0 + 200)] }) {
            try await withThrowingTaskGroup(of: (String, Int64?).self) { group in
                for (contact, id) in chunk { group.addTask { (id, try await store.message(contactId: contact, id: id)?["attempt_ms"].flatMap { Int64($0) }) } }
                for try await (id, t) in group { if let t { starts[id] = t } }
            }
        }
        let claimed = SlidingWindow.most(starts.values.sorted(), width: 1000)
        let received = SlidingWindow.most(receipts.values.sorted(), width: 1000)
        let delays = starts.compactMap { id, t in receipts[id].map { $0 - t } }.sorted()
        print("most calls started in any 1 s window: \(claimed) (limit \(limit)): overshoot \(max(0, claimed - limit)) — from attempt_ms of \(starts.count) messages")
        print("most webhooks received in any 1 s window: \(received): overshoot \(max(0, received - limit)) at the receiver")
        if !delays.isEmpty {
            print("limit slot taken → webhook received: p50 \(delays[delays.count / 2]) ms, p99 \(delays[delays.count * 99 / 100]) ms, max \(delays.last!) ms")
        }
    }
}

/// Counts receipts and remembers when each came.
final class ReceiptCounter: Sendable {
    private let state = Mutex<(count: Int, first: ContinuousClock.Instant?, last: ContinuousClock.Instant?, receipts: [String: Int64])>((0, nil, nil, [:]))

    /// - Parameter id: the send id (`Idempotency-Key`); its wall-clock receipt time is kept.
    func received(id: String) {
        let now = ContinuousClock.now
        let wall = Int64(Date().timeIntervalSince1970 * 1000)
        state.withLock { s in
            s.count += 1
            if s.first == nil { s.first = now }
            s.last = now
            s.receipts[id] = wall
        }
    }

    /// Send id → wall-clock ms of receipt.
    func receipts() -> [String: Int64] { state.withLock { $0.receipts } }

    var count: Int { state.withLock { $0.count } }

    func snapshot() -> (Int, ContinuousClock.Instant, ContinuousClock.Instant) {
        state.withLock { s in (s.count, s.first ?? .now, s.last ?? .now) }
    }
}

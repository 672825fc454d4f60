import Foundation
import HeraldChannels
import HeraldCore
import HeraldKafka
import Logging
import Prometheus
import ServiceLifecycle
import Synchronization

/// `heraldctl bench ingest`: events/s accepted end to end, over HTTP and through herald.events.raw.
public struct IngestBenchmark: Sendable {
    /// `heraldctl bench ingest --api` (its `--help` says what it does).
    public var api: String?
    /// `heraldctl bench ingest --key` (its `--help` says what it does).
    public var key: String?
    /// `heraldctl bench ingest --bootstrap` (its `--help` says what it does).
    public var bootstrap: String?
    /// `heraldctl bench ingest --seconds` (its `--help` says what it does).
    public var seconds: Int = 20
    /// `heraldctl bench ingest --concurrency` (its `--help` says what it does).
    public var concurrency: Int = 8
    /// `heraldctl bench ingest --batch` (its `--help` says what it does).
    public var batch: Int = 100
    /// `heraldctl bench ingest --raw-events` (its `--help` says what it does).
    public var rawEvents: Int = 500_000
    /// `heraldctl bench ingest --mode` (its `--help` says what it does).
    public var mode: String = "both"

    /// Options as `heraldctl` parsed them; the defaults are the flags'.
    public init(
        api: String? = nil, key: String? = nil, bootstrap: String? = nil, seconds: Int = 20, concurrency: Int = 8, batch: Int = 100, rawEvents: Int = 500_000,
        mode: String = "both"
    ) {
        self.api = api
        self.key = key
        self.bootstrap = bootstrap
        self.seconds = seconds
        self.concurrency = concurrency
        self.batch = batch
        self.rawEvents = rawEvents
        self.mode = mode
    }

    /// Runs the bench and prints its figures.
    public func run() async throws {
        let apiURL = try api ?? String(contentsOfFile: DevPaths.apiURL, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let apiKey = try key ?? String(contentsOfFile: DevPaths.apiKey, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let servers = try resolveBootstrap(bootstrap)
        print("machine: \(ProcessInfo.processInfo.activeProcessorCount) cores, \(ProcessInfo.processInfo.physicalMemory / (1 << 30)) GiB")
        if mode == "http" || mode == "both" { try await http(apiURL: apiURL, apiKey: apiKey) }
        if (mode == "raw" || mode == "both") && rawEvents > 0 { try await raw(servers: servers) }
    }

    // MARK: HTTP

    private func http(apiURL: String, apiKey: String) async throws {
        let client = HTTPClient(concurrency: concurrency)
        let run = UUID().uuidString.prefix(8).lowercased()
        let stats = BenchStats()
        let start = ContinuousClock.now
        let deadline = start + .seconds(seconds)
        let batchSize = batch
        let url = "\(apiURL)/v1/events"
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<concurrency {
                group.addTask {
                    var n = 0
                    while ContinuousClock.now < deadline {
                        let body = Self.batchBody(run: run, worker: worker, sequence: n, size: batchSize)
                        n += 1
                        let t0 = ContinuousClock.now
                        let r = try await client.postJSON(url, body, headers: [("Authorization", "Bearer \(apiKey)")], timeout: .seconds(30))
                        let dt = ContinuousClock.now - t0
                        if r.status == 202 {
                            stats.record(count: batchSize, latencies: [Double(dt.milliseconds)])
                        } else {
                            stats.failed()
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let elapsed = Double((ContinuousClock.now - start).milliseconds) / 1000
        let sorted = stats.sortedLatencies()
        let events = stats.count
        print(
            String(
                format:
                    "http: %d events in %.1f s = %.0f events/s accepted (batches of %d, %d concurrent); request latency p50 %.1f ms, p99 %.1f ms; non-202 responses: %d",
                events, elapsed, Double(events) / elapsed, batchSize, concurrency, percentile(sorted, 50), percentile(sorted, 99), stats.failures))
    }

    /// The `"sent_ms":<digits>` the bench put in the event, read without a full JSON parse
    /// so the reader does not compete with the stack for CPU.
    static func sentMilliseconds(_ value: [UInt8]) -> Int64? {
        let marker = Array("\"sent_ms\":".utf8)
        guard let range = value.firstRange(of: marker) else { return nil }
        var n: Int64 = 0
        var i = range.upperBound
        while i < value.count, value[i] >= 0x30, value[i] <= 0x39 {
            n = n * 10 + Int64(value[i] - 0x30)
            i += 1
        }
        return n
    }

    static func batchBody(run: String, worker: Int, sequence: Int, size: Int) -> [UInt8] {
        var out = Array(#"{"events":["#.utf8)
        let ts = nowMilliseconds()
        for i in 0..<size {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            let id = "bench-\(run)-\(worker)-\(sequence)-\(i)"
            out.append(
                contentsOf:
                    #"{"id":"\#(id)","type":"page_visited","contact_id":"c-\#((sequence * size + i) % 100_000)","properties":{"url":"https://shop.example/p/\#(i)","sent_ms":\#(ts)}}"#
                    .utf8)
        }
        out.append(contentsOf: "]}".utf8)
        return out
    }

    // MARK: Raw topic

    private func raw(servers: String) async throws {
        var logger = Logger(label: "heraldctl.bench")
        logger.logLevel = .warning
        let run = "raw-" + UUID().uuidString.prefix(8).lowercased()
        let total = rawEvents
        let stats = BenchStats()
        let prefix = Array("\"id\":\"\(run)-".utf8)
        var config = KafkaConsumerConfiguration(bootstrapServers: servers, groupId: "bench-\(run)", clientId: "bench-\(run)", topics: [Topics.events])
        config.maxBatchSize = 5000
        config.sessionTimeout = .seconds(6)
        let consumer = try KafkaConsumer(configuration: config, metrics: PrometheusCollectorRegistry(), worker: "bench", logger: logger) { batch in
            let now = nowMilliseconds()
            var mine: [Double] = []
            for r in batch where r.value.firstRange(of: prefix) != nil {
                if let sent = Self.sentMilliseconds(r.value) { mine.append(Double(now - sent)) }
            }
            if !mine.isEmpty { stats.record(count: mine.count, latencies: mine, at: now) }
        }
        let assignments = consumer.assignmentChanges
        let group = ServiceGroup(services: [consumer], logger: logger)
        let producer = try KafkaProducer(configuration: .init(bootstrapServers: servers, clientId: "bench-producer"), logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            // Start producing once the reader owns its partitions, so nothing is missed.
            for await change in assignments { if case .assigned = change { break } }
            let start = nowMilliseconds()
            let cpuAtStart = cpuSeconds(processNamed: "herald-ingestor")
            // Produce in windows so the mock broker's retention (100k records per
            // partition) is never outrun and the producer queue stays bounded.
            let window = 20_000
            var sent = 0
            while sent < total {
                let count = min(window, total - sent)
                let records = (sent..<(sent + count)).map { i in
                    let body = #"{"id":"\#(run)-\#(i)","type":"page_visited","contact_id":"c-\#(i % 100_000)","properties":{"sent_ms":\#(nowMilliseconds())}}"#
                    return KafkaOutgoingRecord(topic: Topics.eventsRaw, key: "c-\(i % 100_000)", value: Array(body.utf8))
                }
                for case .failure(let error) in await producer.send(records) { throw error }
                sent += count
            }
            let deadline = ContinuousClock.now + .seconds(120)
            while stats.count < total && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
            }
            let got = stats.count
            let elapsed = Double(stats.lastAt - start) / 1000
            let ingestorCPU = cpuSeconds(processNamed: "herald-ingestor").map { $0 - (cpuAtStart ?? 0) }
            let sorted = stats.sortedLatencies()
            print(
                String(
                    format: "raw: %d of %d events on herald.events in %.1f s = %.0f events/s end to end; produce-to-visible latency p50 %.0f ms, p99 %.0f ms",
                    got, total, elapsed, Double(got) / max(elapsed, 0.001), percentile(sorted, 50), percentile(sorted, 99)))
            // The load generator, Redis and the broker share the machine: what the
            // ingestor itself spent tells its capacity per core.
            if let cpu = ingestorCPU, cpu > 0 {
                print(String(format: "raw: the ingestor used %.1f CPU seconds: %.0f events per ingestor CPU-second", cpu, Double(got) / cpu))
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        await producer.close()
    }
}

/// Counters shared by a benchmark's concurrent tasks.
final class BenchStats: Sendable {
    private let state = Mutex<(count: Int, failures: Int, latencies: [Double], lastAt: Int64)>((0, 0, [], 0))

    func record(count: Int, latencies: [Double], at time: Int64 = 0) {
        state.withLock { s in
            s.count += count
            s.latencies.append(contentsOf: latencies)
            s.lastAt = max(s.lastAt, time)
        }
    }

    func failed() { state.withLock { $0.failures += 1 } }
    var count: Int { state.withLock { $0.count } }
    var failures: Int { state.withLock { $0.failures } }
    var lastAt: Int64 { state.withLock { $0.lastAt } }
    func sortedLatencies() -> [Double] { state.withLock { $0.latencies.sorted() } }
}

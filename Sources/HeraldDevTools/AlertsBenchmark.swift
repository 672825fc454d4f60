import Foundation
import HeraldChannels
import HeraldCore
import HeraldKafka
import HeraldService
import Logging

/// `heraldctl bench alerts`, against a running stack (`heraldctl dev`):
///
/// 1. **Evaluation**: N `page_visited` events produced straight onto
///    `herald.events` (half of them on pages watched by the rules, with a
///    minimum time they do not reach, so visits wait and are decided; the rest on
///    pages no rule watches); the rate is how fast the one alerter's
///    `herald_alerter_events_evaluated_total` grows.
/// 2. **Latency**: views that each alert once, produced at `--rate` per second
///    with `received_at_ms` = now (as if just accepted); the p50/p99 from the
///    sender's `herald_alert_latency_seconds` histogram (event accepted → SMTP hand-off).
public struct AlertsBenchmark: Sendable {
    /// `heraldctl bench alerts --rules` (its `--help` says what it does).
    public var rules: Int = 1000
    /// `heraldctl bench alerts --events` (its `--help` says what it does).
    public var events: Int = 300_000
    /// `heraldctl bench alerts --contacts` (its `--help` says what it does).
    public var contacts: Int = 50_000
    /// `heraldctl bench alerts --rate` (its `--help` says what it does).
    public var rate: Int = 1000
    /// `heraldctl bench alerts --seconds` (its `--help` says what it does).
    public var seconds: Int = 20
    /// `heraldctl bench alerts --bootstrap` (its `--help` says what it does).
    public var bootstrap: String?
    /// `heraldctl bench alerts --alerter-metrics` (its `--help` says what it does).
    public var alerterMetrics: String = "http://127.0.0.1:9404/metrics"
    /// `heraldctl bench alerts --sender-metrics` (its `--help` says what it does).
    public var senderMetrics: String = "http://127.0.0.1:9403/metrics"
    /// `heraldctl bench alerts --preload` (its `--help` says what it does).
    public var preload: Bool = false
    /// `heraldctl bench alerts --partitions` (its `--help` says what it does).
    public var partitions: Int = 24
    /// The admin API (`heraldctl bench alerts --api --admin-key`): the bench creates its rules there.
    public var admin: AdminEndpoint

    /// Options as `heraldctl` parsed them; the defaults are the flags'.
    public init(
        rules: Int = 1000, events: Int = 300_000, contacts: Int = 50_000, rate: Int = 1000, seconds: Int = 20, bootstrap: String? = nil,
        alerterMetrics: String = "http://127.0.0.1:9404/metrics", senderMetrics: String = "http://127.0.0.1:9403/metrics", preload: Bool = false,
        partitions: Int = 24, admin: AdminEndpoint
    ) {
        self.rules = rules
        self.events = events
        self.contacts = contacts
        self.rate = rate
        self.seconds = seconds
        self.bootstrap = bootstrap
        self.alerterMetrics = alerterMetrics
        self.senderMetrics = senderMetrics
        self.preload = preload
        self.partitions = partitions
        self.admin = admin
    }

    /// Most page views `--preload` may put in the broker at once: about 300 bytes each, 4 MB per partition
    /// (under the mock broker's 5 MB, DESIGN.md).
    public static func preloadLimit(partitions: Int) -> Int { 4_000_000 / 300 * partitions }

    /// Runs the bench and prints its figures.
    public func run() async throws {
        if preload, cpuSeconds(processNamed: "herald-alerter") != nil {
            throw CLIError(
                "--preload starts an alerter of its own, and the running one would read the views as they are produced: start the dev stack without it, `heraldctl dev --workers ingestor`"
            )
        }
        var logger = Logger(label: "heraldctl.bench")
        logger.logLevel = .warning
        let servers = try resolveBootstrap(bootstrap)
        let (api, key) = (admin.url, admin.key)
        let client = HTTPClient(concurrency: 8)
        let headers = [("Authorization", "Bearer \(key)"), ("Content-Type", "application/yaml")]

        // Rules: bench-i watches bench.example/s<i>/** (30 s minimum) and bench.example/landing<i> (alert on the view).
        let created = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<rules {
                group.addTask {
                    let yaml = """
                        name: Bench \(i)
                        pages: [{url: 'https://bench.example/s\(i)/**', min_time: 30s}, 'https://bench.example/landing\(i)']
                        frequency: once a day
                        recipients: {cc: [alerts\(i % 10)@bench.example]}
                        description: Benchmark rule \(i).
                        """
                    let r = try await client.send(method: "PUT", url: "\(api)/v1/alerts/bench-\(i)", headers: headers, body: Array(yaml.utf8))
                    guard (200..<300).contains(r.status) else { throw CLIError("PUT /v1/alerts/bench-\(i): HTTP \(r.status) \(r.bodyText)") }
                }
                if i % 8 == 7 { try await group.next() }
            }
            try await group.waitForAll()
        }
        print(String(format: "created %d rules in %.1f s", rules, Double((ContinuousClock.now - created).milliseconds) / 1000))
        try await Task.sleep(for: .seconds(2))  // alerters reload within a second

        let run = String(UInt32.random(in: 0...UInt32.max), radix: 36)
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: servers, clientId: "bench-alerts-\(run)"), logger: logger)

        // 1. Evaluation.
        var alerterMetrics = alerterMetrics
        var ownAlerter: ChildProcess?
        let before = preload ? 0 : try await counter(client, alerterMetrics, "herald_alerter_events_evaluated_total")
        var cpuBefore = preload ? nil : cpuSeconds(processNamed: "herald-alerter")
        let base = nowMilliseconds() - Int64(events / contacts + 1) * 5000
        let produceStart = ContinuousClock.now
        var firstSeen: ContinuousClock.Instant?
        var countAtFirst = 0.0
        for start in stride(from: 0, to: events, by: 10_000) {
            let records = (start..<min(events, start + 10_000)).map { i -> KafkaOutgoingRecord in
                let contact = "bench-\(run)-\(i % contacts)"
                // Each contact views a page every 5 s: watched pages (30 s minimum) end too short.
                let url = i % 2 == 0 ? "https://bench.example/s\(i / 2 % rules)/p\(i % 7)" : "https://bench.example/other/\(i % 1000)"
                let e = Event(
                    id: "bench-\(run)-\(i)", type: "page_visited", contactId: contact, timestamp: base + Int64(i / contacts) * 5000,
                    receivedAt: nowMilliseconds(), properties: ["url": .string(url)])
                return KafkaOutgoingRecord(topic: Topics.events, key: contact, value: e.encoded())
            }
            for case .failure(let error) in await producer.send(records) { throw error }
            if !preload, firstSeen == nil, try await counter(client, alerterMetrics, "herald_alerter_events_evaluated_total") > before { firstSeen = .now }
        }
        print(String(format: "produced %d page views in %.1f s", events, Double((ContinuousClock.now - produceStart).milliseconds) / 1000))
        fflush(nil)
        if preload {
            let (child, url) = try await startAlerter(servers, client)
            ownAlerter = child
            alerterMetrics = url
            cpuBefore = cpuSeconds(processNamed: "herald-alerter")  // its start-up is not evaluation
            // It may have started reading before it answered: the rate counts from
            // the first reading of the counter, and what was evaluated by then.
            while firstSeen == nil {
                if let code = child.poll() { throw CLIError("the bench's alerter exited with \(code); see \(DevPaths.logs)/bench-alerter.log") }
                let seen = try await counter(client, alerterMetrics, "herald_alerter_events_evaluated_total")
                if seen > 0 { (firstSeen, countAtFirst) = (.now, seen) } else { try await Task.sleep(for: .milliseconds(10)) }
            }
        }
        var evaluated = 0.0
        let deadline = ContinuousClock.now + .seconds(Int64(events / 2000 + 60))
        var lastProgress = (count: -1.0, at: ContinuousClock.now)
        while ContinuousClock.now < deadline {
            evaluated = try await counter(client, alerterMetrics, "herald_alerter_events_evaluated_total") - before
            if firstSeen == nil, evaluated > 0 { firstSeen = .now }
            if evaluated >= Double(events) { break }
            if evaluated > lastProgress.count {
                lastProgress = (evaluated, .now)
            } else if firstSeen != nil, ContinuousClock.now - lastProgress.at > .seconds(10) {
                throw CLIError(
                    "the alerter evaluated \(Int(evaluated)) of \(events) views and nothing more for 10 s: views were lost before it read them (the broker keeps 5 MB per partition; use fewer --events) or it is stuck (see its log)"
                )
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        let span = Double(((ContinuousClock.now) - (firstSeen ?? produceStart)).milliseconds) / 1000
        print(
            String(
                format: "evaluated %.0f of %d page views against %d rules: %.0f events/s (first to last, %.1f s)", evaluated, events, rules,
                (evaluated - countAtFirst) / max(span, 0.001), span))
        // On a shared machine the other workers (and Redis) take CPU too: what the
        // alerter itself spent tells its capacity per core.
        if let c0 = cpuBefore, let c1 = cpuSeconds(processNamed: "herald-alerter"), c1 > c0 {
            print(String(format: "the alerter used %.1f CPU seconds: %.0f events per alerter CPU-second", c1 - c0, evaluated / (c1 - c0)))
        }
        fflush(nil)

        // 2. Latency at `rate` alerts per second.
        if rate > 0 {
            let histogramBefore = try await histogram(client, senderMetrics, "herald_alert_latency_seconds")
            let total = rate * seconds
            let tick = Duration.milliseconds(100)
            let perTick = max(1, rate / 10)
            var produced = 0
            var next = ContinuousClock.now
            while produced < total {
                let records = (produced..<min(total, produced + perTick)).map { n -> KafkaOutgoingRecord in
                    let contact = "bench-lat-\(run)-\(n)"
                    let now = nowMilliseconds()
                    let e = Event(
                        id: "bench-lat-\(run)-\(n)", type: "page_visited", contactId: contact, timestamp: now, receivedAt: now,
                        properties: ["url": .string("https://bench.example/landing\(n % rules)")])
                    return KafkaOutgoingRecord(topic: Topics.events, key: contact, value: e.encoded())
                }
                for case .failure(let error) in await producer.send(records) { throw error }
                produced += records.count
                next += tick
                try await Task.sleep(until: next)
            }
            print("produced \(total) alerting page views at \(rate)/s; waiting for their emails")
            fflush(nil)
            var delta: [(Double, Double)] = []
            let end = ContinuousClock.now + .seconds(Int64(seconds + 120))
            while ContinuousClock.now < end {
                let now = try await histogram(client, senderMetrics, "herald_alert_latency_seconds")
                delta = zip(now, histogramBefore + Array(repeating: (0, 0), count: max(0, now.count - histogramBefore.count))).map { ($0.0, $0.1 - $1.1) }
                if (delta.last?.1 ?? 0) >= Double(total) { break }
                try await Task.sleep(for: .milliseconds(500))
            }
            let count = delta.last?.1 ?? 0
            func quantile(_ q: Double) -> String {
                guard let bucket = delta.first(where: { $0.1 >= q * count }) else { return "n/a" }
                return bucket.0.isInfinite ? "> last bucket" : String(format: "≤ %.3f s", bucket.0)
            }
            print("handed \(Int(count)) of \(total) alert emails to SMTP; latency p50 \(quantile(0.5)), p99 \(quantile(0.99)) (histogram bucket bounds)")
        }
        await producer.close()
        if let ownAlerter { _ = await ownAlerter.stop() }

        for i in 0..<rules { _ = try? await client.send(method: "DELETE", url: "\(api)/v1/alerts/bench-\(i)", headers: headers, body: nil) }
    }

    /// Starts one herald-alerter on the dev stack's broker and Redis, with its
    /// metrics on a free port; returns it and its metrics URL once it is ready.
    func startAlerter(_ bootstrap: String, _ client: HTTPClient) async throws -> (ChildProcess, String) {
        guard let redisPort = devRedisPort() else { throw CLIError("no dev stack found (.herald/dev/redis.port): start `heraldctl dev --workers ingestor`") }
        let metricsPort = freeTCPPort()
        let child = try await startBenchWorker(
            "herald-alerter", log: "bench-alerter", metricsPort: metricsPort,
            environment: [
                "HERALD_KAFKA_BOOTSTRAP_SERVERS": bootstrap, "HERALD_KAFKA_PARTITIONS": String(partitions), "HERALD_REDIS_PORT": String(redisPort),
                "HERALD_ALERTER_METRICS_PORT": String(metricsPort),
            ],
            client: client)
        return (child, "http://127.0.0.1:\(metricsPort)/metrics")
    }

    /// One counter's value from a Prometheus text page (summed over its label sets).
    func counter(_ client: HTTPClient, _ url: String, _ name: String) async throws -> Double {
        let text = try await client.get(url).bodyText
        return text.split(separator: "\n").filter { $0.hasPrefix(name) }.compactMap { Double($0.split(separator: " ").last ?? "") }.reduce(0, +)
    }

    /// A histogram's cumulative buckets (upper bound, count), by bound.
    func histogram(_ client: HTTPClient, _ url: String, _ name: String) async throws -> [(Double, Double)] {
        let text = try await client.get(url).bodyText
        return text.split(separator: "\n").filter { $0.hasPrefix("\(name)_bucket") }.compactMap { line -> (Double, Double)? in
            guard let le = line.range(of: "le=\""), let close = line[le.upperBound...].firstIndex(of: "\""),
                let value = Double(line.split(separator: " ").last ?? "")
            else { return nil }
            let bound = String(line[le.upperBound..<close])
            return (bound == "+Inf" ? .infinity : Double(bound) ?? .infinity, value)
        }.sorted { $0.0 < $1.0 }
    }
}

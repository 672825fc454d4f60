import Foundation
import HeraldChannels
import HeraldCore
import HeraldKafka
import HeraldRedis
import Logging
import Prometheus
import ServiceLifecycle
import Synchronization

/// `heraldctl bench journeys`: wake-up lateness and transitions per second of the
/// running scheduler, and Redis memory per pending wake-up.
public struct JourneysBenchmark: Sendable {
    /// `heraldctl bench journeys --count` (its `--help` says what it does).
    public var count: Int = 1_000_000
    /// `heraldctl bench journeys --rate` (its `--help` says what it does).
    public var rate: Int = 10_000
    /// `heraldctl bench journeys --redis-port` (its `--help` says what it does).
    public var redisPort: Int?
    /// `heraldctl bench journeys --partitions` (its `--help` says what it does).
    public var partitions: Int = 24
    /// `heraldctl bench journeys --bootstrap` (its `--help` says what it does).
    public var bootstrap: String?
    /// The admin API (`heraldctl bench journeys --api --admin-key`): the bench publishes its campaign there.
    public var admin: AdminEndpoint

    /// Options as `heraldctl` parsed them; the defaults are the flags'.
    public init(count: Int = 1_000_000, rate: Int = 10_000, redisPort: Int? = nil, partitions: Int = 24, bootstrap: String? = nil, admin: AdminEndpoint) {
        self.count = count
        self.rate = rate
        self.redisPort = redisPort
        self.partitions = partitions
        self.bootstrap = bootstrap
        self.admin = admin
    }

    /// Runs the bench and prints its figures.
    public func run() async throws {
        var logger = Logger(label: "heraldctl.bench")
        logger.logLevel = .warning
        guard let port = redisPort ?? devRedisPort() else {
            throw CLIError("no Redis port: pass --redis-port or start `heraldctl dev`")
        }
        let servers = try resolveBootstrap(bootstrap)
        var config = RedisConfiguration(host: "127.0.0.1", port: port)
        config.commandTimeout = .seconds(30)
        let redis = RedisPool(configuration: config, logger: logger)
        let run = UUID().uuidString.prefix(6).lowercased()
        let campaign = "bench-wake-\(run)"
        let yaml =
            "id: \(campaign)\nlist: bench\nentry: parallel\ntriggers:\n  - event: bench_never\nsteps:\n  - id: w\n    wait: 1d\n    next: s\n  - id: s\n    send: {channel: email, template: bench}\n"
        guard (200..<300).contains(try await admin.call("POST", "/v1/campaigns/\(campaign)/publish", body: yaml)) else {
            throw CLIError("the bench campaign \(campaign) was not published (the answer is above)")
        }
        try await Task.sleep(for: .seconds(1))  // the scheduler notices the campaign

        let memoryBefore = try await usedMemory(redis)
        let loadStart = ContinuousClock.now
        let firstDue = nowMilliseconds() + Int64(max(20, count / 40_000 + 10)) * 1000
        let perBatch = 5_000
        for start in stride(from: 0, to: count, by: perBatch) {
            var commands: [[String]] = []
            for i in start..<min(count, start + perBatch) {
                let contact = "bench-\(run)-\(i)"
                let shard = Shard.of(contact, partitions: partitions)
                let due = firstDue + Int64(i) * 1000 / Int64(rate)
                var instance = JourneyInstance(
                    id: "\(campaign):\(i):\(due)", campaignId: campaign, version: 1, contactId: contact, triggerEvent: [:], stepId: "w",
                    enteredAt: due - 86_400_000)
                instance.status = .waiting(until: due)
                instance.sequence = 1
                instance.visits = ["w": 1]
                commands.append(["HSET", "herald:j:\(Shard.hashTag(shard)):\(contact)", instance.id, String(decoding: instance.encoded(), as: UTF8.self)])
                commands.append(["ZADD", "herald:wake:\(Shard.hashTag(shard))", String(due), "\(contact)\u{1F}\(instance.id)"])
            }
            _ = try await redis.pipeline(commands)
        }
        let loadSeconds = Double((ContinuousClock.now - loadStart).milliseconds) / 1000
        let memoryAfter = try await usedMemory(redis)
        print(
            String(
                format: "loaded %d waiting journeys in %.1f s; Redis used_memory grew %.0f MB = %.0f bytes per pending wake-up (journey state + wake-up entry)",
                count, loadSeconds, Double(memoryAfter - memoryBefore) / 1e6, Double(memoryAfter - memoryBefore) / Double(count)))
        let wakeBytes = try await wakeSetBytes(redis, partitions: partitions)
        print(String(format: "  of which the wake-up sorted sets: %.0f bytes per entry (MEMORY USAGE)", Double(wakeBytes) / Double(count)))
        fflush(nil)

        // Read the sends the scheduler produces and compute lateness from the due time in the journey id.
        let stats = BenchStats()
        // Worst lateness per second of due time: shows whether slow wake-ups cluster
        // (something periodic) or are spread out.
        let worst = Mutex<[Int64: Double]>([:])
        let marker = Array("\"campaign_id\":\"\(campaign)\"".utf8)
        var consumerConfig = KafkaConsumerConfiguration(bootstrapServers: servers, groupId: "bench-\(run)", clientId: "bench-\(run)", topics: [Topics.sends])
        consumerConfig.maxBatchSize = 5000
        // Only this run's sends: reading earlier runs' records would take CPU from
        // the scheduler being measured. The group joins well before the first due time.
        consumerConfig.extraProperties["auto.offset.reset"] = "latest"
        let consumer = try KafkaConsumer(configuration: consumerConfig, metrics: PrometheusCollectorRegistry(), worker: "bench", logger: logger) { batch in
            var lateness: [Double] = []
            var seconds: [Int64: Double] = [:]
            for r in batch where r.value.firstRange(of: marker) != nil {
                guard let v = try? JSONValue.parse(r.value), let id = v["instance_id"]?.stringValue,
                    let due = id.split(separator: ":").last.flatMap({ Int64($0) }),
                    case .int(let created)? = v["created_at_ms"]
                else { continue }
                lateness.append(Double(created - due))
                seconds[(due - firstDue) / 1000] = max(seconds[(due - firstDue) / 1000] ?? 0, Double(created - due))
            }
            worst.withLock { w in w.merge(seconds, uniquingKeysWith: max) }
            if !lateness.isEmpty { stats.record(count: lateness.count, latencies: lateness, at: nowMilliseconds()) }
        }
        let group = ServiceGroup(services: [consumer], logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let lastDue = firstDue + Int64(count) * 1000 / Int64(rate)
            let deadline = ContinuousClock.now + .seconds(Int64((lastDue - nowMilliseconds()) / 1000) + 120)
            while stats.count < count && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(500))
            }
            let sorted = stats.sortedLatencies()
            let span = Double(stats.lastAt - firstDue) / 1000
            print(
                String(
                    format: "fired %d of %d wake-ups due at %d/s: lateness p50 %.0f ms, p99 %.0f ms, max %.0f ms; %.0f transitions/s (first due to last fired)",
                    stats.count, count, rate, percentile(sorted, 50), percentile(sorted, 99), sorted.last ?? 0, Double(stats.count) / max(span, 0.001)))
            let slowest = worst.withLock { $0 }.sorted { $0.value > $1.value }.prefix(8).sorted { $0.key < $1.key }
            print("  slowest seconds (since the first due: worst lateness): " + slowest.map { "+\($0.key) s: \(Int($0.value)) ms" }.joined(separator: ", "))
            // Wall-clock time of the first due, to line the slow seconds up with logs
            // (e.g. Redis's "Background append only file rewriting started").
            print("  first due at \(RFC3339.format(milliseconds: firstDue))")
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        await redis.close()
    }

    func usedMemory(_ redis: RedisPool) async throws -> Int64 {
        let info = try await redis.execute(["INFO", "memory"]).string ?? ""
        for line in info.split(whereSeparator: \.isNewline) where line.hasPrefix("used_memory:") {
            return Int64(line.dropFirst("used_memory:".count)) ?? 0
        }
        return 0
    }

    func wakeSetBytes(_ redis: RedisPool, partitions: Int) async throws -> Int64 {
        let replies = try await redis.pipeline((0..<partitions).map { ["MEMORY", "USAGE", "herald:wake:\(Shard.hashTag($0))", "SAMPLES", "0"] })
        return replies.compactMap(\.int).reduce(0, +)
    }
}

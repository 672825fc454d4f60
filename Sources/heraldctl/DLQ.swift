import ArgumentParser
import Foundation
import HeraldCore
import HeraldDevTools
import HeraldKafka
import Logging
import Prometheus
import ServiceLifecycle
import Synchronization

/// `heraldctl dlq list|show|replay`: what is in `herald.dlq`, and putting it back
/// on its source topic once the cause is fixed.
struct DLQ: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq",
        abstract: "Inspect and replay dead letters (herald.dlq).",
        discussion: """
            Each dead letter is the original record (key and bytes) with why in headers: herald.error.reason,
            herald.error.field, herald.source.topic, .partition and .offset. A dead letter is named by its own
            place in herald.dlq, PARTITION:OFFSET, as `list` prints it. Replaying re-produces the original bytes
            with the original key to the source topic, where every consumer group reads it again; Herald's
            effects are idempotent per event and send id, so a record that was partly handled is not doubled.
            """,
        subcommands: [List.self, Show.self, Replay.self])

    struct Options: ParsableArguments {
        @Option(help: "Broker address (default: HERALD_KAFKA_BOOTSTRAP_SERVERS or the dev stack's).") var bootstrap: String?
        @Option(help: "Stop reading once no record came for this many seconds.") var idle: Double = 2
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One line per dead letter: where it is, where it came from, why.")
        @OptionGroup var options: Options
        @Option(help: "Only dead letters from this source topic.") var sourceTopic: String?

        func run() async throws {
            let letters = try await DeadLetters.read(options).filter { sourceTopic == nil || $0.sourceTopic == sourceTopic }
            for l in letters {
                print("\(l.place)  from \(l.origin)  key \(l.record.keyString ?? "-")  \(l.record.value.count) bytes  \(l.reason.prefix(160))")
            }
            print("\(letters.count) dead letter\(letters.count == 1 ? "" : "s")")
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A dead letter's headers and value, as JSON.")
        @OptionGroup var options: Options
        @Argument(help: "PARTITION:OFFSET in herald.dlq.") var place: String

        func run() async throws {
            guard let letter = try await DeadLetters.read(options).first(where: { $0.place == place }) else {
                throw CLIError("no dead letter at \(place) in \(Topics.dlq) (see `heraldctl dlq list`)")
            }
            Tail.printRecord(letter.record)
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Re-produce dead letters to their source topics.")
        @OptionGroup var options: Options
        @Argument(help: "PARTITION:OFFSET of each dead letter to replay.") var places: [String] = []
        @Flag(help: "Replay every dead letter (with --source-topic, every one from that topic).") var all = false
        @Option(help: "With --all: only dead letters from this source topic.") var sourceTopic: String?

        func validate() throws {
            guard all != !places.isEmpty else { throw ValidationError("name dead letters (PARTITION:OFFSET …) or pass --all, not both") }
        }

        func run() async throws {
            let letters = try await DeadLetters.read(options)
            let chosen =
                all
                ? letters.filter { sourceTopic == nil || $0.sourceTopic == sourceTopic }
                : try places.map { p in
                    guard let l = letters.first(where: { $0.place == p }) else { throw CLIError("no dead letter at \(p) in \(Topics.dlq)") }
                    return l
                }
            // A value read from Redis (a damaged stored journey) has no topic to go
            // back to: it is mended by hand from `dlq show`, never replayed.
            let stored = chosen.filter(\.isFromRedis)
            if !all, let first = stored.first {
                throw CLIError(
                    "\(first.place) was read from Redis (\(first.origin)), not from a topic: it cannot be replayed; see docs/operations.md, \"Dead letters\"")
            }
            for l in stored { print("\(l.place): skipped, read from Redis (\(l.origin)); mend it by hand") }
            // A record produced to herald.dlq by something else names no source to go back to.
            let unplaced = chosen.filter { !$0.isFromRedis && $0.sourcePlace == nil }
            if !all, let first = unplaced.first { throw CLIError("\(first.place) has no source topic, partition and offset headers: it cannot be replayed") }
            for l in unplaced { print("\(l.place): skipped, its source is \(l.origin)") }
            // The same source record dead-lettered twice (two groups read its topic) is replayed once.
            var seen: Set<String> = []
            let unique = chosen.filter { l in l.sourcePlace.map { seen.insert($0).inserted } ?? false }
            var producerConfig = KafkaProducerConfiguration(bootstrapServers: try resolveBootstrap(options.bootstrap), clientId: "heraldctl-dlq-\(getpid())")
            producerConfig.topicPrefix = topicPrefixFromEnvironment()
            let producer = try KafkaProducer(configuration: producerConfig, logger: DeadLetters.logger)
            let reports = await producer.send(
                unique.map {
                    KafkaOutgoingRecord(
                        topic: $0.sourceTopic ?? "", key: $0.letter.key, value: $0.letter.value,
                        headers: [KafkaHeader(name: DeadLetter.replayedFromHeader, string: "\(Topics.dlq)/\($0.place)")])
                })
            await producer.close()
            var failed = 0
            for (letter, report) in zip(unique, reports) {
                switch report {
                case .success(let r): print("\(letter.place) → \(letter.sourceTopic ?? "")[\(r.partition)]@\(r.offset)")
                case .failure(let error):
                    failed += 1
                    print("\(letter.place): not replayed: \(error)")
                }
            }
            print("replayed \(unique.count - failed) of \(unique.count)")
            if failed > 0 { throw ExitCode(1) }
        }
    }
}

/// One record of `herald.dlq`, read back, with its place there.
struct DeadLetters {
    let record: KafkaRecord
    let letter: DeadLetter

    init(_ record: KafkaRecord) {
        self.record = record
        self.letter = DeadLetter(reading: record)
    }

    /// `PARTITION:OFFSET` in herald.dlq.
    var place: String { "\(record.partition):\(record.offset)" }
    var reason: String { letter.reason }
    /// The topic to replay to; nil for a value read from Redis or of unknown origin.
    var sourceTopic: String? {
        switch letter.source {
        case .topic(let topic, _, _): topic
        case .redis: DeadLetter.redisTopic
        case .unknown(let topic): topic
        }
    }
    /// The source record's place, for replaying each one once.
    var sourcePlace: String? { if case .topic(let t, let p, let o) = letter.source { "\(t)/\(p)/\(o)" } else { nil } }
    /// A value the scheduler read from Redis and could not decode (`DeadLetterQueue.send(stored:)`).
    var isFromRedis: Bool { if case .redis = letter.source { true } else { false } }
    /// Where the record came from: `topic[partition]@offset`, `redis KEY FIELD`, or what is known.
    var origin: String {
        switch letter.source {
        case .topic(let t, let p, let o): "\(t)[\(p)]@\(o)"
        case .redis(let key, let field): "redis \(key) \(field)"
        case .unknown(let topic): "unknown (\(topic ?? "no herald.source headers"))"
        }
    }

    static let logger: Logger = {
        var l = Logger(label: "heraldctl.dlq")
        l.logLevel = .warning
        return l
    }()

    /// Every record of herald.dlq, read in a fresh group until `idle` seconds pass without one.
    static func read(_ options: DLQ.Options) async throws -> [DeadLetters] {
        var config = KafkaConsumerConfiguration(
            bootstrapServers: try resolveBootstrap(options.bootstrap), groupId: "heraldctl-dlq-\(UUID().uuidString.prefix(8))",
            clientId: "heraldctl-dlq-\(getpid())",
            topics: [Topics.dlq])
        config.topicPrefix = topicPrefixFromEnvironment()
        config.sessionTimeout = .seconds(6)
        let records = Mutex<[KafkaRecord]>([])
        let last = Mutex<ContinuousClock.Instant?>(nil)
        let consumer = try KafkaConsumer(configuration: config, metrics: PrometheusCollectorRegistry(), worker: "heraldctl", logger: logger) { batch in
            records.withLock { $0.append(contentsOf: batch) }
            last.withLock { $0 = .now }
        }
        let assignments = consumer.assignmentChanges
        let group = ServiceGroup(configuration: .init(services: [consumer], logger: logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            // Idle time counts from the assignment (or the last record), not from start-up.
            for await change in assignments { if case .assigned = change { last.withLock { $0 = $0 ?? .now }; break } }
            let idle = Duration.milliseconds(Int64(options.idle * 1000))
            while let at = last.withLock({ $0 }), ContinuousClock.now - at < idle { try await Task.sleep(for: .milliseconds(100)) }
            await group.triggerGracefulShutdown()
            try await tasks.next()
            tasks.cancelAll()
        }
        return records.withLock { $0 }.sorted { ($0.partition, $0.offset) < ($1.partition, $1.offset) }.map { DeadLetters($0) }
    }
}

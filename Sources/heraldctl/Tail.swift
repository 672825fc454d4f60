import ArgumentParser
import Foundation
import HeraldCore
import HeraldDevTools
import HeraldKafka
import Logging
import Prometheus
import ServiceLifecycle
import Synchronization

/// `heraldctl tail TOPIC`: prints records as JSON lines.
struct Tail: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a topic's records as JSON lines (from the beginning, in a fresh group unless --group).")

    @Argument(help: "The topic, e.g. herald.events.") var topic: String
    @Option(help: "Broker address (default: HERALD_KAFKA_BOOTSTRAP_SERVERS or the dev stack's).") var bootstrap: String?
    @Option(help: "Join this consumer group instead of a fresh one (resumes at its committed offsets).") var group: String?
    @Option(help: "Exit after this many records.") var count: Int?
    @Option(help: "Log level for the Kafka client.") var logLevel = "warning"

    func run() async throws {
        var logger = Logger(label: "heraldctl.tail")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .warning
        let servers = try resolveBootstrap(bootstrap)
        let groupId = group ?? "heraldctl-tail-\(UUID().uuidString.prefix(8))"
        var config = KafkaConsumerConfiguration(bootstrapServers: servers, groupId: groupId, clientId: "heraldctl-tail-\(getpid())", topics: [topic])
        config.topicPrefix = topicPrefixFromEnvironment()
        config.sessionTimeout = .seconds(6)
        let printed = Mutex(0)
        let limit = count
        let done = AsyncStream<Void>.makeStream()
        let consumer = try KafkaConsumer(configuration: config, metrics: PrometheusCollectorRegistry(), worker: "heraldctl", logger: logger) { batch in
            for record in batch {
                if let limit, printed.withLock({ $0 }) >= limit { break }
                Self.printRecord(record)
                if printed.withLock({ n in
                    n += 1; return n
                }) == limit {
                    done.continuation.yield()
                }
            }
        }
        let assignments = consumer.assignmentChanges
        let serviceGroup = ServiceGroup(configuration: .init(services: [consumer], gracefulShutdownSignals: [.sigint, .sigterm], logger: logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await serviceGroup.run() }
            tasks.addTask {
                // Tell a waiting script which partitions this member owns (stderr, not the record stream).
                for await change in assignments {
                    FileHandle.standardError.write(Data("assignment: \(change)\n".utf8))
                }
            }
            for await _ in done.stream {
                await serviceGroup.triggerGracefulShutdown()
                break
            }
            try await tasks.next()
            tasks.cancelAll()
        }
    }

    static func printRecord(_ r: KafkaRecord) {
        var o: [String: JSONValue] = [
            "topic": .string(r.topic), "partition": .int(Int64(r.partition)), "offset": .int(r.offset),
            "key": r.keyString.map(JSONValue.string) ?? .null, "timestamp_ms": .int(r.timestamp),
        ]
        if let parsed = try? JSONValue.parse(r.value) { o["value"] = parsed } else { o["value"] = .string(String(decoding: r.value, as: UTF8.self)) }
        if !r.headers.isEmpty {
            o["headers"] = .object(
                Dictionary(r.headers.map { ($0.name, JSONValue.string(String(decoding: $0.value, as: UTF8.self))) }, uniquingKeysWith: { a, _ in a }))
        }
        print(JSONValue.object(o).jsonString)
        fflush(nil)
    }
}

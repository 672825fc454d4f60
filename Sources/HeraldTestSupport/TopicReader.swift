import HeraldKafka
import Logging
import Prometheus
import ServiceLifecycle
import Synchronization

/// Reads a topic from the beginning in a fresh consumer group until `done`
/// says the records so far are enough, or the timeout passes.
public func readTopic(
    _ topic: String, bootstrapServers: String, timeout: Duration = .seconds(30),
    until done: @escaping @Sendable ([KafkaRecord]) -> Bool
) async throws -> [KafkaRecord] {
    var logger = Logger(label: "test.reader")
    logger.logLevel = .warning
    let records = Mutex<[KafkaRecord]>([])
    var config = KafkaConsumerConfiguration(bootstrapServers: bootstrapServers, groupId: uniqueName("reader"), clientId: "test-reader", topics: [topic])
    config.sessionTimeout = .seconds(6)
    let consumer = try KafkaConsumer(configuration: config, metrics: PrometheusCollectorRegistry(), worker: "test", logger: logger) { batch in
        records.withLock { $0.append(contentsOf: batch) }
    }
    let group = ServiceGroup(services: [consumer], logger: logger)
    try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline && !done(records.withLock { $0 }) {
            try await Task.sleep(for: .milliseconds(50))
        }
        await group.triggerGracefulShutdown()
        try await tasks.waitForAll()
    }
    return records.withLock { $0 }
}

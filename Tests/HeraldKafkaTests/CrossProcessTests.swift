import Foundation
import Glibc
import HeraldCore
import HeraldDevTools
import HeraldKafka
import HeraldService
import HeraldTestSupport
import Logging
import Prometheus
import ServiceLifecycle
import Synchronization
import Testing

@Suite("Kafka across processes on the embedded broker", .timeLimit(.minutes(3)))
struct CrossProcessTests {
    let logger = Logger(label: "test")

    @Test("a second member in another process takes partitions; records produced by one process are consumed by the other")
    func partitionsMoveAndRecordsCross() async throws {
        let broker = try TestBroker.start(partitions: 4, topics: ["xp"])
        let group = uniqueName("xp-group")
        let received = Mutex<[String]>([])
        var config = KafkaConsumerConfiguration(bootstrapServers: broker.bootstrapServers, groupId: group, clientId: "in-test", topics: ["xp"])
        config.sessionTimeout = .seconds(6)
        let local = try KafkaConsumer(configuration: config, metrics: PrometheusCollectorRegistry(), worker: "test", logger: logger) { batch in
            received.withLock { $0.append(contentsOf: batch.map { String(decoding: $0.value, as: UTF8.self) }) }
        }
        let serviceGroup = ServiceGroup(services: [local], logger: logger)
        let dir = try temporaryDirectory("xp")
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await serviceGroup.run() }
            try await eventually { local.assignment.count == 4 }

            // The second member: `heraldctl tail` in the same group, in another process.
            let out = "\(dir)/tail.out"
            let tail = try ChildProcess(
                executable: try BuiltProducts.executable("heraldctl"),
                arguments: ["tail", "xp", "--bootstrap", broker.bootstrapServers, "--group", group], output: .file(out))
            defer { tail.signal(SIGKILL) }
            try await eventually(timeout: .seconds(40)) { local.assignment.count < 4 && !local.assignment.isEmpty }
            let mine = local.assignment
            #expect(mine.count < 4, "no partition moved to the second member")

            // Produce from a third process; each record goes to the member owning its partition.
            let keys = (0..<40).map { "key-\($0)" }
            for key in keys {
                let produce = try ChildProcess(
                    executable: try BuiltProducts.executable("heraldctl"),
                    arguments: ["produce", "xp", "--bootstrap", broker.bootstrapServers, "--key", key, "--value", "v-\(key)"], output: .null)
                #expect(await produce.wait() == 0)
            }
            let otherKeys = keys.filter { !mine.contains(TopicPartition(topic: "xp", partition: Shard.of($0, partitions: 4))) }
            let localKeys = keys.filter { mine.contains(TopicPartition(topic: "xp", partition: Shard.of($0, partitions: 4))) }
            try await eventually(timeout: .seconds(30)) {
                let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
                return otherKeys.allSatisfy { text.contains("\"v-\($0)\"") }
            }
            try await eventually(timeout: .seconds(30)) { Set(received.withLock { $0 }).isSuperset(of: localKeys.map { "v-\($0)" }) }
            // Each record went to exactly one member.
            let text = try String(contentsOfFile: out, encoding: .utf8)
            #expect(localKeys.allSatisfy { !text.contains("\"v-\($0)\"") })
            #expect(Set(received.withLock { $0 }).isDisjoint(with: otherKeys.map { "v-\($0)" }))
            await serviceGroup.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }
}

/// Polls `condition` until it holds or `timeout` passes (then records an issue and throws).
func eventually(timeout: Duration = .seconds(20), _ condition: @escaping @Sendable () -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        guard ContinuousClock.now < deadline else { throw TestSupportError("condition not met within \(timeout)") }
        try await Task.sleep(for: .milliseconds(50))
    }
}

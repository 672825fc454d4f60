import HeraldCore
import HeraldDevTools
import HeraldKafka
import Logging

/// An embedded Kafka broker with Herald's topics, for tests.
public struct TestBroker: Sendable {
    /// The mock cluster itself.
    public let broker: EmbeddedKafkaBroker
    /// Where clients connect.
    public var bootstrapServers: String { broker.bootstrapServers }
    /// The partition count of every Herald topic it created.
    public let partitions: Int

    /// Starts a mock cluster and creates `topics` (Herald's by default) with `partitions` partitions.
    public static func start(partitions: Int = 6, topics: [String] = Topics.all) throws -> TestBroker {
        let broker = try EmbeddedKafkaBroker(logger: Logger(label: "test.broker"))
        for t in topics { try broker.createTopic(t, partitions: partitions) }
        return TestBroker(broker: broker, partitions: partitions)
    }
}

/// A fresh name for a test's topic or group.
public func uniqueName(_ prefix: String) -> String {
    "\(prefix)-\(UInt64.random(in: 0...UInt64.max) % 1_000_000_000)"
}

import ArgumentParser
import Foundation
import HeraldCore
import HeraldDevTools
import HeraldKafka
import Logging

/// `heraldctl broker`: the embedded Kafka broker (librdkafka's mock cluster).
struct Broker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the embedded Kafka broker with Herald's topics until stopped.",
        discussion: "The mock cluster keeps only the last 100,000 records or 5 MB per partition.")

    @Option(help: "Partitions of each Herald topic.") var partitions = 24
    @Option(help: "Brokers in the mock cluster.") var brokers = 1
    @Option(help: "Also write the bootstrap address to this file.") var addressFile: String?

    func run() async throws {
        let logger = Logger(label: "heraldctl.broker")
        let broker = try EmbeddedKafkaBroker(brokers: brokers, logger: logger)
        for topic in Topics.all { try broker.createTopic(topic, partitions: partitions) }
        if let addressFile {
            try (broker.bootstrapServers + "\n").write(toFile: addressFile, atomically: true, encoding: .utf8)
        }
        print("bootstrap: \(broker.bootstrapServers)")
        print("topics: \(Topics.all.joined(separator: ", ")) (\(partitions) partitions each)")
        fflush(nil)
        _ = await waitForTerminationSignal()
        broker.shutdown()
        print("broker stopped")
    }
}

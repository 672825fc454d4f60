import ArgumentParser
import Foundation
import HeraldDevTools
import HeraldKafka
import Logging

/// `heraldctl produce TOPIC`: sends records, one per line of standard input (or --value).
struct Produce: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Produce records to a topic and wait for the broker's acknowledgement; prints partition and offset of each.")

    @Argument(help: "The topic.") var topic: String
    @Option(help: "Broker address (default: HERALD_KAFKA_BOOTSTRAP_SERVERS or the dev stack's).") var bootstrap: String?
    @Option(help: "The record key (for events: the contact id).") var key: String?
    @Option(help: "The record value; without it, each line of standard input is one record.") var value: String?

    func run() async throws {
        var logger = Logger(label: "heraldctl.produce")
        logger.logLevel = .warning
        let producer = try KafkaProducer(configuration: .init(bootstrapServers: try resolveBootstrap(bootstrap), clientId: "heraldctl-produce"), logger: logger)
        var values: [String] = []
        if let value {
            values = [value]
        } else {
            while let line = readLine(), !line.isEmpty { values.append(line) }
        }
        for v in values {
            let report = try await producer.send(topic: topic, key: key, value: Array(v.utf8))
            print("{\"partition\":\(report.partition),\"offset\":\(report.offset)}")
        }
        await producer.close()
    }
}

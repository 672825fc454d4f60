import Foundation
import HeraldCore
import HeraldDevTools
import HeraldKafka
import HeraldService
import HeraldTestSupport
import Logging
import Prometheus
import Testing

@Suite("heraldctl dlq: list, show and replay dead letters", .timeLimit(.minutes(2)))
struct DeadLetterToolTests {
    func heraldctl(_ arguments: [String], in dir: String, name: String) async throws -> (Int32?, String) {
        let out = "\(dir)/\(name).out"
        let child = try ChildProcess(executable: try BuiltProducts.executable("heraldctl"), arguments: arguments, output: .file(out))
        let code = await child.wait(timeout: .seconds(60))
        if code == nil { child.signal(SIGKILL) }
        return (code, (try? String(contentsOfFile: out, encoding: .utf8)) ?? "")
    }

    @Test("a dead letter is listed with its origin and reason, shown whole, and replayed once to its source topic with its key and bytes")
    func listShowReplay() async throws {
        let source = uniqueName("source")
        let broker = try TestBroker.start(partitions: 2, topics: [source, Topics.dlq])
        let logger = Logger(label: "test")
        let producer = try KafkaProducer(configuration: .init(bootstrapServers: broker.bootstrapServers, clientId: "p"), logger: logger)
        let original = Array(#"{"id":"e-1","type":"signup","contact_id":"ada"}"#.utf8)
        let report = try await producer.send(topic: source, key: "ada", value: original)
        let record = KafkaRecord(topic: source, partition: report.partition, offset: report.offset, key: Array("ada".utf8), value: original)
        // Dead-lettered twice (two consumer groups read the source topic): replayed once.
        let dlq = DeadLetterQueue(producer: producer, metrics: PrometheusCollectorRegistry(), worker: "test", logger: logger)
        try await dlq.send(record, reason: .failed, message: "failed 5 times: the profile store refused it")
        try await dlq.send(record, reason: .failed, message: "failed 5 times: again")
        let dir = try temporaryDirectory("dlq")
        let bootstrap = ["--bootstrap", broker.bootstrapServers]

        let (listCode, list) = try await heraldctl(["dlq", "list"] + bootstrap, in: dir, name: "list")
        #expect(listCode == 0, "\(list)")
        #expect(list.contains("from \(source)[\(report.partition)]@\(report.offset)  key ada") && list.contains("the profile store refused it"), "\(list)")
        #expect(list.contains("2 dead letters"), "\(list)")
        let place = try #require(list.split(separator: "\n").first.map { String($0.split(separator: " ")[0]) })

        let (showCode, shown) = try await heraldctl(["dlq", "show", place] + bootstrap, in: dir, name: "show")
        #expect(showCode == 0 && shown.contains(#""herald.source.topic":"\#(source)""#) && shown.contains(#""contact_id":"ada""#), "\(shown)")
        let (missingCode, missing) = try await heraldctl(["dlq", "show", "9:999"] + bootstrap, in: dir, name: "missing")
        #expect(missingCode != 0 && missing.contains("no dead letter at 9:999"), "\(missing)")

        let (replayCode, replayed) = try await heraldctl(["dlq", "replay", "--all"] + bootstrap, in: dir, name: "replay")
        #expect(replayCode == 0 && replayed.contains("replayed 1 of 1"), "\(replayed)")
        let back = try await readTopic(source, bootstrapServers: broker.bootstrapServers) { $0.count >= 2 }
        #expect(back.count == 2, "replayed once, not once per dead letter")
        let copy = try #require(back.first { $0.header("herald.replayed.from") != nil })
        #expect(copy.value == original && copy.keyString == "ada" && copy.partition == report.partition)
        await producer.close()
    }

    @Test("a damaged stored journey's dead letter is listed with its Redis key and field, and is never replayed to a topic")
    func storedValue() async throws {
        let broker = try TestBroker.start(partitions: 2, topics: [Topics.dlq])
        let logger = Logger(label: "test")
        let producer = try KafkaProducer(configuration: .init(bootstrapServers: broker.bootstrapServers, clientId: "p"), logger: logger)
        let dlq = DeadLetterQueue(producer: producer, metrics: PrometheusCollectorRegistry(), worker: "test", logger: logger)
        try await dlq.send(stored: [(key: "ada", redisKey: "herald:j:{1}:ada", field: "c:1", bytes: Array("{damaged".utf8), message: "not a journey")])
        await producer.close()
        let dir = try temporaryDirectory("dlq-redis")
        let bootstrap = ["--bootstrap", broker.bootstrapServers]
        let (listCode, list) = try await heraldctl(["dlq", "list"] + bootstrap, in: dir, name: "list")
        #expect(listCode == 0 && list.contains("from redis herald:j:{1}:ada c:1  key ada  8 bytes  not a journey"), "\(list)")
        let place = try #require(list.split(separator: "\n").first.map { String($0.split(separator: " ")[0]) })
        let (oneCode, one) = try await heraldctl(["dlq", "replay", place] + bootstrap, in: dir, name: "one")
        #expect(oneCode != 0 && one.contains("cannot be replayed"), "\(one)")
        let (allCode, all) = try await heraldctl(["dlq", "replay", "--all"] + bootstrap, in: dir, name: "all")
        #expect(allCode == 0 && all.contains("skipped, read from Redis") && all.contains("replayed 0 of 0"), "\(all)")
    }
}

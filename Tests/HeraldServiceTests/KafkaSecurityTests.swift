import Foundation
import HeraldCore
import HeraldKafka
import HeraldService
import HeraldTestSupport
import Logging
import Testing

/// The mock broker speaks plaintext only, so these show that the settings reach
/// librdkafka in every client a worker makes: librdkafka itself refuses a CA
/// file that is not there, and accepts SASL/SCRAM over TLS (Debian's build links
/// libssl and libsasl2).
@Suite("Kafka security settings reach every client")
struct KafkaSecurityTests {
    func settings(_ environment: [String: String]) throws -> Settings {
        try Configuration.load(file: "", environment: environment, overrides: []).settings()
    }

    @Test("protocol, SASL and TLS keys become librdkafka's properties; SASL needs its username and password, named by key")
    func properties() throws {
        let s = try settings([
            "HERALD_KAFKA_SECURITY_PROTOCOL": "sasl_ssl", "HERALD_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "HERALD_KAFKA_SASL_USERNAME": "herald",
            "HERALD_KAFKA_SASL_PASSWORD": "pw", "HERALD_KAFKA_SSL_CA_LOCATION": "/etc/ssl/certs/ca-certificates.crt", "HERALD_KAFKA_COMPRESSION": "zstd",
        ])
        #expect(
            s.kafkaClientProperties == [
                "security.protocol": "sasl_ssl", "sasl.mechanisms": "SCRAM-SHA-512", "sasl.username": "herald", "sasl.password": "pw",
                "ssl.ca.location": "/etc/ssl/certs/ca-certificates.crt",
            ])
        #expect(s.kafkaCompression == "zstd")
        #expect(try settings([:]).kafkaClientProperties == ["security.protocol": "plaintext"], "plaintext, nothing else, by default")
        #expect { try settings(["HERALD_KAFKA_SECURITY_PROTOCOL": "sasl_ssl", "HERALD_KAFKA_SASL_USERNAME": "u"]) } throws: {
            "\($0)".contains("kafka.sasl_password") && "\($0)".contains("required")
        }
        #expect { try settings(["HERALD_KAFKA_SECURITY_PROTOCOL": "tls"]) } throws: { "\($0)".contains("kafka.security_protocol") }
        #expect { try settings(["HERALD_KAFKA_SASL_MECHANISM": "GSSAPI"]) } throws: { "\($0)".contains("kafka.sasl_mechanism") }
    }

    @Test("the worker's producer, its consumers and its topic admin all get them: over TLS none reaches the plaintext mock broker, over plaintext all do")
    func reachLibrdkafka() async throws {
        let broker = try TestBroker.start(partitions: 1)
        let base = ["HERALD_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrapServers, "HERALD_DEV_MODE": "true", "HERALD_KAFKA_CREATE_TOPICS": "true"]
        // librdkafka checks the CA file when the client is made.
        let missing = try settings(base.merging(["HERALD_KAFKA_SECURITY_PROTOCOL": "ssl", "HERALD_KAFKA_SSL_CA_LOCATION": "/nonexistent/ca.pem"]) { $1 })
        #expect { try WorkerRuntime(worker: .sender, settings: missing, logger: Logger(label: "test")) } throws: { "\($0)".contains("ssl.ca.location") }
        // SASL/SCRAM over TLS with the system's CAs: every client is made, and none gets an answer from a plaintext listener.
        let scram = try settings(
            base.merging([
                "HERALD_KAFKA_SECURITY_PROTOCOL": "sasl_ssl", "HERALD_KAFKA_SASL_MECHANISM": "SCRAM-SHA-256", "HERALD_KAFKA_SASL_USERNAME": "herald",
                "HERALD_KAFKA_SASL_PASSWORD": "pw", "HERALD_KAFKA_COMPRESSION": "lz4",
            ]) { $1 })
        let secure = try WorkerRuntime(worker: .sender, settings: scram, logger: Logger(label: "test"))
        #expect(await secure.producer.isReachable(timeout: .seconds(2)) == false)
        let secureConsumer = try secure.consumer(topics: [Topics.sends]) { _ in }
        #expect(await secureConsumer.isReachable(timeout: .seconds(2)) == false)
        await #expect { try await secure.ensureTopics() } throws: { "\($0)".contains("answered") }
        // The same runtime over plaintext reaches it in each client.
        let plain = try WorkerRuntime(worker: .sender, settings: try settings(base), logger: Logger(label: "test"))
        #expect(await plain.producer.isReachable(timeout: .seconds(5)))
        let plainConsumer = try plain.consumer(topics: [Topics.sends]) { _ in }
        #expect(await plainConsumer.isReachable(timeout: .seconds(5)))
        try await plain.ensureTopics()
    }

    @Test("kafka.topic_prefix names the worker's consumer groups too, so two fleets on one cluster never share a group")
    func prefixedGroups() throws {
        let prefixed = try WorkerRuntime(worker: .scheduler, settings: try settings(["HERALD_KAFKA_TOPIC_PREFIX": "shop1."]), logger: Logger(label: "test"))
        #expect(try prefixed.consumer(topics: [Topics.journeys]) { _ in }.groupId == "shop1.herald-scheduler")
        #expect(try prefixed.consumer(topics: [Topics.events], group: "herald-router") { _ in }.groupId == "shop1.herald-router")
        let plain = try WorkerRuntime(worker: .scheduler, settings: try settings([:]), logger: Logger(label: "test"))
        #expect(try plain.consumer(topics: [Topics.journeys]) { _ in }.groupId == "herald-scheduler")
        #expect { try settings(["HERALD_KAFKA_TOPIC_PREFIX": "shop 1/"]) } throws: { "\($0)".contains("kafka.topic_prefix") }
    }
}

import HeraldChannels
import HeraldCore
import HeraldKafka
import HeraldService
import HeraldTestSupport
import Logging
import Prometheus
import ServiceLifecycle
import Synchronization
import Testing

@Suite("Liveness: /healthz fails when a consumer loop stops going round", .timeLimit(.minutes(2)))
struct LivenessTests {
    let logger = Logger(label: "test")

    @Test("an idle consumer and one waiting out an outage keep beating; one stuck in its handler stalls, and /healthz answers 503 naming it")
    func stuckHandler() async throws {
        let topic = uniqueName("live")
        let broker = try TestBroker.start(partitions: 1, topics: [topic])
        let producer = try KafkaProducer(configuration: .init(bootstrapServers: broker.bootstrapServers, clientId: "p"), logger: logger)
        var config = KafkaConsumerConfiguration(bootstrapServers: broker.bootstrapServers, groupId: uniqueName("g"), clientId: "c", topics: [topic])
        config.retryBackoff = .milliseconds(5)
        let heartbeats = Heartbeats()
        let outages = Mutex(0)
        let stuck = Mutex(false), release = Mutex(false)
        let consumer = try KafkaConsumer(
            configuration: config, metrics: PrometheusCollectorRegistry(), worker: "test", logger: logger, heartbeat: heartbeats.make("consumer \(topic)")
        ) { batch in
            let texts = batch.map { String(decoding: $0.value, as: UTF8.self) }
            if texts.contains("outage"),
                outages.withLock({ n in
                    n += 1; return n <= 9
                })
            {
                throw Outage()
            }
            if texts.contains("hang") {
                stuck.withLock { $0 = true }
                // Stuck as a call that never returns would be, until the test lets go.
                while !release.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(20)) }
            }
        }
        let port = Mutex(0)
        let health = HealthServer.make(
            host: "127.0.0.1", port: 0, registry: PrometheusCollectorRegistry(), checks: [],
            liveness: Liveness(heartbeats: heartbeats, stallAfter: .seconds(1)), logger: logger, onRunning: { p in port.withLock { $0 = p } })
        let group = ServiceGroup(services: [health, consumer], logger: logger)
        let client = HTTPClient(concurrency: 1)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            func healthz() async throws -> (status: Int, body: String) {
                let r = try await client.send(method: "GET", url: "http://127.0.0.1:\(port.withLock { $0 })/healthz", headers: [], body: nil)
                return (r.status, r.bodyText)
            }
            while port.withLock({ $0 }) == 0 { try await Task.sleep(for: .milliseconds(20)) }
            // Idle for longer than the bound: polls with nothing to read still count.
            try await Task.sleep(for: .milliseconds(1_500))
            #expect(try await healthz().status == 200)
            // An outage is waited out on purpose: still alive, even through a pause
            // longer than the bound (9 tries, the pauses growing to 1.28 s; they
            // beat every 250 ms while they wait).
            _ = try await producer.send(topic: topic, key: "k", value: Array("outage".utf8))
            let outageEnds = ContinuousClock.now + .seconds(20)
            while outages.withLock({ $0 }) <= 9, ContinuousClock.now < outageEnds {
                #expect(heartbeats.stalled(after: .seconds(1)).isEmpty, "beats while it waits out the outage")
                try await Task.sleep(for: .milliseconds(100))
            }
            // Stuck in the handler: no beat, and /healthz says which loop.
            _ = try await producer.send(topic: topic, key: "k", value: Array("hang".utf8))
            while !stuck.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(20)) }
            try await Task.sleep(for: .milliseconds(1_500))
            let (status, body) = try await healthz()
            #expect(status == 503 && body.contains("\"stalled\"") && body.contains("consumer \(topic)"), "\(body)")
            release.withLock { $0 = true }
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await healthz().status == 200, "going round again")
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        await producer.close()
    }
}

import Foundation
import HeraldCore
import HeraldKafka
import HeraldRedis
import HeraldTestSupport
import Logging
import Testing

@testable import HeraldIngest

@Suite("Import heartbeat: a live run beats while it waits (real broker and redis-server)")
struct ImportHeartbeatTests {
    /// No profile applier runs here, so the run's second batch waits for the
    /// first to show in the profiles (up to a minute): nothing is committed
    /// meanwhile, yet the job's heartbeat goes on, so a retry does not take a
    /// waiting run for an abandoned one.
    @Test("a run waiting for the profiles commits nothing for seconds, and its heartbeat still advances every beat")
    func beatsWhileWaiting() async throws {
        let logger = Logger(label: "test")
        let broker = try TestBroker.start(partitions: 2)
        let server = try await TestRedisServer()
        let redis = RedisPool(configuration: server.configuration, logger: logger)
        let producer = try KafkaProducer(configuration: .init(bootstrapServers: broker.bootstrapServers, clientId: "heartbeat-test"), logger: logger)
        let jobs = ImportJobStore(redis: redis)
        var importer = ContactImporter(
            contacts: ContactStore(redis: redis, partitions: 2), jobs: jobs, catalog: CampaignCatalog(store: CampaignStore(redis: redis)),
            producer: producer, pacing: ImportPacing(places: 1), logger: logger)
        importer.heartbeatEvery = .milliseconds(200)
        importer.outagePatience = .seconds(1)
        var csv = "id,email\n"
        for i in 0..<3_000 { csv += "h\(i),h\(i)@example.com\n" }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("heartbeat-\(UUID().uuidString).csv").path
        #expect(FileManager.default.createFile(atPath: path, contents: Data(csv.utf8)))
        let run = try #require(try await jobs.claim("hb-1", now: WallClock.system.now(), staleAfter: .seconds(30), fields: [:]))
        let running = Task { await importer.run(id: "hb-1", run: run, path: path, options: ImportOptions()) }
        // The first batch committed, then the wait.
        var job: [String: String] = [:]
        for _ in 0..<200 where job["committed"] != "1000" {
            job = try await jobs.job("hb-1") ?? [:]
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(job["committed"] == "1000", "\(job)")
        var beats: Set<String> = []
        for _ in 0..<15 {
            try await Task.sleep(for: .milliseconds(200))
            let now = try await jobs.job("hb-1") ?? [:]
            #expect(now["committed"] == "1000" && now["state"] == "running", "\(now)")
            if let b = now["heartbeat_ms"] { beats.insert(b) }
        }
        #expect(beats.count >= 8, "\(beats.count) heartbeats in 3 s without a commit")
        running.cancel()
        await server.stop()
    }
}

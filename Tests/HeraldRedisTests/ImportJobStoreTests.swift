import HeraldRedis
import HeraldTestSupport
import Logging
import Testing

@Suite("Import jobs on a real redis-server", .timeLimit(.minutes(1)))
struct ImportJobStoreTests {
    @Test("a run writes only while it owns the job: once a later run claims it (the first was paused past the stale bound), the first is refused")
    func fencing() async throws {
        let server = try await TestRedisServer()
        let jobs = ImportJobStore(redis: RedisPool(configuration: server.configuration, logger: Logger(label: "test")))
        let first = try #require(try await jobs.claim("j1", now: 1_000, staleAfter: .seconds(30), fields: ["mode": "create_or_update"]))
        #expect(try await jobs.claim("j1", now: 2_000, staleAfter: .seconds(30), fields: [:]) == nil, "beating: not claimable")
        try await jobs.update("j1", run: first, set: ["committed": "1000", "heartbeat_ms": "2000"], errors: ["2\u{1F}email\u{1F}bad"])
        // Paused past the bound: a retry claims it, and the paused run can no longer write.
        let second = try #require(try await jobs.claim("j1", now: 40_000, staleAfter: .seconds(30), fields: [:]))
        #expect(second != first)
        await #expect(throws: ImportTakenOver.self) { try await jobs.update("j1", run: first, set: ["state": "done", "committed": "5000"]) }
        // More rejected rows than one unpack takes, in one update.
        let many = (0..<9_000).map { "\($0 + 3)\u{1F}phone\u{1F}bad" }
        try await jobs.update("j1", run: second, set: ["committed": "2000"], errors: many)
        let job = try #require(try await jobs.job("j1"))
        #expect(job["committed"] == "2000" && job["state"] == "running" && job["mode"] == "create_or_update", "\(job)")
        let errors = try await jobs.errors("j1")
        #expect(errors.count == 9_001 && errors.first?.column == "email" && errors.last?.line == 9_002)
        // The same batch recorded again (a retry after a timeout whose first try
        // was applied) adds its rejected rows once; the next batch adds its own.
        try await jobs.update("j1", run: second, set: ["committed": "2000"], errors: ["1500\u{1F}email\u{1F}bad"])
        #expect(try await jobs.errors("j1").count == 9_001)
        try await jobs.update("j1", run: second, set: ["committed": "3000"], errors: ["2500\u{1F}email\u{1F}bad"])
        #expect(try await jobs.errors("j1").count == 9_002)
        // A rejected row whose reason quotes 100 KB is kept as its first 1 KiB.
        try await jobs.update(
            "j1", run: second, set: ["committed": "4000"],
            errors: ["3500\u{1F}email\u{1F}'" + String(repeating: "é", count: 50_000) + "' is not an email address"])
        let long = try await jobs.errors("j1").last
        #expect(long?.line == 3500 && long?.column == "email" && (long?.reason.utf8.count ?? .max) <= ImportJobStore.maxErrorBytes)
        await server.stop()
    }
}

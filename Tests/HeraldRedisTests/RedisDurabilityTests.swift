import HeraldRedis
import HeraldTestSupport
import Logging
import Testing

@Suite("Redis persistence and eviction, as a worker reads them at start", .timeLimit(.minutes(1)))
struct RedisDurabilityTests {
    @Test("read from a real redis-server: an evicting policy is refused, no AOF or appendfsync no is warned of outside dev mode")
    func readsAndJudges() async throws {
        let server = try await TestRedisServer()  // started with appendonly no, noeviction
        let pool = RedisPool(configuration: server.configuration, logger: Logger(label: "test"))
        var d = try await RedisDurability.read(from: pool)
        #expect(d == RedisDurability(aofEnabled: false, appendfsync: "everysec", maxmemoryPolicy: "noeviction"))
        #expect(d.refusal == nil)
        #expect(d.warnings(devMode: false).contains { $0.contains("without AOF") })
        #expect(d.warnings(devMode: true).isEmpty)

        _ = try await pool.execute(["CONFIG", "SET", "appendonly", "yes"])
        d = try await RedisDurability.read(from: pool)
        #expect(d.aofEnabled == true && d.warnings(devMode: false).isEmpty, "\(d)")
        _ = try await pool.execute(["CONFIG", "SET", "appendfsync", "no"])
        #expect(try await RedisDurability.read(from: pool).warnings(devMode: false).contains { $0.contains("appendfsync is 'no'") })

        for policy in ["allkeys-lru", "volatile-lru", "volatile-ttl", "allkeys-random"] {
            _ = try await pool.execute(["CONFIG", "SET", "maxmemory-policy", policy])
            let refusal = try await RedisDurability.read(from: pool).refusal
            #expect(refusal?.contains("maxmemory-policy \(policy)") == true, "\(policy)")
        }
        await server.stop()
    }

    @Test("a managed Redis that refuses CONFIG still gets its eviction checked from INFO")
    func withoutConfig() {
        #expect(RedisDurability.fields("# Memory\r\nused_memory:1000\r\nmaxmemory_policy:volatile-lru\r\n")["maxmemory_policy"] == "volatile-lru")
        #expect(RedisDurability(aofEnabled: true, appendfsync: nil, maxmemoryPolicy: "volatile-lru").refusal != nil)
        #expect(
            RedisDurability(aofEnabled: true, appendfsync: nil, maxmemoryPolicy: "noeviction").warnings(devMode: false) == [
                "could not read Redis's appendfsync (CONFIG refused); make sure it is everysec or always"
            ])
    }
}

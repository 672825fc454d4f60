import Foundation
import Glibc
import HeraldDevTools
import HeraldRedis
import HeraldTestSupport
import Logging
import Synchronization
import Testing

/// A real primary, a real replica and a real sentinel (`redis-server --sentinel`)
/// on this machine.
@Suite("Redis Sentinel: the pool follows a failover", .serialized, .timeLimit(.minutes(3)))
struct SentinelTests {
    let logger = Logger(label: "test.sentinel")

    /// A sentinel on a free port monitoring `name` at `primary`.
    func sentinel(monitoring primary: Int, name: String) async throws -> (ChildProcess, Int) {
        let port = freeTCPPort()
        let dir = try temporaryDirectory("sentinel")
        let conf = "\(dir)/sentinel.conf"
        try """
        port \(port)
        bind 127.0.0.1
        dir \(dir)
        sentinel monitor \(name) 127.0.0.1 \(primary) 1
        sentinel down-after-milliseconds \(name) 1000
        sentinel failover-timeout \(name) 10000
        sentinel parallel-syncs \(name) 1

        """.write(toFile: conf, atomically: true, encoding: .utf8)
        let process = try ChildProcess(executable: "/usr/bin/redis-server", arguments: [conf, "--sentinel", "--logfile", "\(dir)/sentinel.log"])
        var plain = RedisConfiguration(host: "127.0.0.1", port: port)
        plain.poolSize = 1
        plain.initialBackoff = .milliseconds(20)
        let probe = RedisPool(configuration: plain, logger: logger)
        defer { Task { await probe.close() } }
        for _ in 0..<100 {
            if (try? await probe.execute(["PING"]).string) == "PONG" { return (process, port) }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw RedisError(code: .connection, message: "the sentinel did not start")
    }

    @Test("writes go to the primary the sentinel names; after the primary is killed they go on at the promoted replica; acknowledged writes lost are counted")
    func failover() async throws {
        // Replication starts at once (Redis waits 5 s by default for more replicas).
        let primary = try await TestRedisServer(port: freeTCPPort(), arguments: ["--repl-diskless-sync-delay", "0"])
        let replica = try await TestRedisServer(port: freeTCPPort(), arguments: ["--replicaof", "127.0.0.1", String(primary.port)])
        // A replica that never finished its first sync is no candidate for promotion.
        let replicaInfo = RedisPool(configuration: replica.configuration, logger: logger)
        for _ in 0..<300 {
            if (try? await replicaInfo.execute(["INFO", "replication"]).string)?.contains("master_link_status:up") == true { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        await replicaInfo.close()
        let name = "herald-\(UUID().uuidString.prefix(6))"
        let (sentinel, sentinelPort) = try await sentinel(monitoring: primary.port, name: name)
        defer { sentinel.signal(SIGKILL) }
        var config = RedisConfiguration(host: "127.0.0.1", port: 1)  // not used: the sentinel names the primary
        config.sentinels = [("127.0.0.1", sentinelPort)]
        config.sentinelMaster = name
        config.poolSize = 2
        config.commandTimeout = .milliseconds(500)
        config.connectTimeout = .milliseconds(500)
        config.initialBackoff = .milliseconds(50)
        config.maximumBackoff = .milliseconds(200)
        let pool = RedisPool(configuration: config, logger: logger)
        let direct = RedisPool(configuration: primary.configuration, logger: logger)
        try await pool.execute(["SET", "first", "1"])
        #expect(try await direct.execute(["GET", "first"]).string == "1", "written at the primary")
        await direct.close()

        // The sentinel must know the replica before the primary goes.
        var sentinelConfig = RedisConfiguration(host: "127.0.0.1", port: sentinelPort)
        sentinelConfig.poolSize = 1
        let ask = RedisPool(configuration: sentinelConfig, logger: logger)
        for _ in 0..<300 {
            if let replicas = try? await ask.execute(["SENTINEL", "replicas", name]).array, !replicas.isEmpty { break }
            try await Task.sleep(for: .milliseconds(100))
        }

        // A writer that goes on through the failover, as a worker's loop would.
        let acknowledged = Mutex<[Int]>([])
        let failures = Mutex(0)
        let stop = Mutex(false)
        let lastError = Mutex("")
        let writer = Task {
            var i = 0
            while !stop.withLock({ $0 }) {
                do {
                    try await pool.execute(["SET", "w:\(i)", "\(i)"])
                    acknowledged.withLock { $0.append(i) }
                    i += 1
                } catch {
                    failures.withLock { $0 += 1 }
                    lastError.withLock { $0 = "\(error)" }
                    try? await Task.sleep(for: .milliseconds(50))
                }
            }
        }
        try await Task.sleep(for: .seconds(1))
        let beforeKill = acknowledged.withLock { $0.count }
        let killedAt = ContinuousClock.now
        await primary.kill()
        // Writes resume at the promoted replica.
        var resumedAfter: Duration?
        for _ in 0..<600 {
            try await Task.sleep(for: .milliseconds(100))
            let role = try? await RedisPool(configuration: replica.configuration, logger: logger).execute(["ROLE"]).array?.first?.string
            if role == "master", acknowledged.withLock({ $0.count }) > beforeKill + 100, failures.withLock({ $0 }) > 0 {
                resumedAfter = ContinuousClock.now - killedAt
                break
            }
        }
        try await Task.sleep(for: .milliseconds(500))
        stop.withLock { $0 = true }
        await writer.value
        #expect(
            resumedAfter != nil,
            "writes never resumed at the promoted replica: \(lastError.withLock { $0 }); before the kill \(beforeKill), after \(acknowledged.withLock { $0.count })"
        )
        // What the failover lost: writes the old primary acknowledged but had not yet replicated.
        let promoted = RedisPool(configuration: replica.configuration, logger: logger)
        let acked = acknowledged.withLock { $0 }
        var lost = 0
        for chunk in stride(from: 0, to: acked.count, by: 500) {
            let keys = acked[chunk..<min(acked.count, chunk + 500)].map { "w:\($0)" }
            let values = try await promoted.execute(["MGET"] + keys).array ?? []
            lost += values.filter { $0.string == nil }.count
        }
        print(
            "sentinel failover: \(acked.count) writes acknowledged, \(lost) lost, \(failures.withLock { $0 }) failed calls, writes resumed \(resumedAfter.map { "\($0)" } ?? "never") after the kill"
        )
        #expect(try await promoted.execute(["GET", "w:\(acked.last ?? 0)"]).string == "\(acked.last ?? 0)", "the newest write is at the new primary")
        #expect(lost <= acked.count / 10, "lost \(lost) of \(acked.count)")
        for p in [pool, ask, promoted] { await p.close() }
        await replica.stop()
    }
}

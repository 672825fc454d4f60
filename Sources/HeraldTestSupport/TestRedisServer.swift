import Foundation
import Glibc
import HeraldDevTools
import HeraldRedis
import HeraldService
import Logging

/// A real `redis-server` on a free port, for one test or suite; stopped on `stop()` or deinit.
///
/// Tests share nothing through it but use a unique key prefix each (never FLUSHALL).
public final class TestRedisServer: @unchecked Sendable {
    /// The loopback port redis-server listens on.
    public let port: Int
    private let process: ChildProcess
    private let directory: URL
    private let keepsDirectory: Bool

    /// Starts redis-server (from Debian's package) without persistence and waits until it answers.
    /// A port taken between choosing and binding it (parallel tests) is retried with another.
    public convenience init() async throws {
        var lastError: (any Error)?
        for _ in 0..<3 {
            do {
                try await self.init(port: freeTCPPort())
                return
            } catch {
                lastError = error
            }
        }
        throw lastError!
    }

    /// Starts redis-server on `port` (e.g. the port of a stopped one, to simulate a restart).
    /// - Parameter appendOnlyDirectory: persist there as production does (AOF
    ///   `everysec`, `noeviction`); a server started again on the same directory
    ///   replays it. Without one, nothing persists.
    /// - Parameter arguments: more of redis-server's own (`--requirepass`, an ACL `--user`).
    public init(port: Int, appendOnlyDirectory: URL? = nil, arguments extra: [String] = [], ready: RedisConfiguration? = nil) async throws {
        self.port = port
        directory = appendOnlyDirectory ?? FileManager.default.temporaryDirectory.appendingPathComponent("herald-redis-\(port)-\(UUID().uuidString.prefix(8))")
        keepsDirectory = appendOnlyDirectory != nil
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let persistence =
            appendOnlyDirectory == nil
            ? ["--appendonly", "no"]
            : ["--appendonly", "yes", "--appendfsync", "everysec", "--maxmemory-policy", "noeviction"]
        process = try ChildProcess(
            executable: redisServerExecutable(),
            arguments: [
                "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--enable-debug-command", "yes",
                "--dir", directory.path, "--logfile", directory.appendingPathComponent("redis.log").path,
            ] + persistence + extra)
        try await waitUntilReady(ready)
    }

    /// Kills the server with SIGKILL (a crash: no final fsync) and waits for it to exit.
    public func kill() async {
        process.signal(SIGKILL)
        _ = await process.wait()
    }

    /// Sends `signal` to the server (SIGSTOP and SIGCONT: Redis unreachable for a while).
    public func signal(_ signal: Int32) {
        process.signal(signal)
    }

    /// A pool configuration pointing at this server.
    public var configuration: RedisConfiguration { RedisConfiguration(host: "127.0.0.1", port: port) }

    /// Stops the server (SIGTERM) and waits for it to exit.
    public func stop() async {
        await process.stop(grace: .seconds(5))
    }

    deinit {
        // Tests that forget stop() must not leave servers behind.
        process.signal(SIGKILL)
        if !keepsDirectory { try? FileManager.default.removeItem(at: directory) }
    }

    private func waitUntilReady(_ login: RedisConfiguration?) async throws {
        var config = login ?? configuration
        config.poolSize = 1
        config.initialBackoff = .milliseconds(5)
        config.maximumBackoff = .milliseconds(20)
        var quiet = Logger(label: "test.redis")
        quiet.logLevel = .critical  // refused connects while the server starts are expected
        let pool = RedisPool(configuration: config, logger: quiet)
        for _ in 0..<400 {
            if await pool.ping() {
                await pool.close()
                return
            }
            if let code = process.poll() {
                await pool.close()
                let log = (try? String(contentsOfFile: directory.appendingPathComponent("redis.log").path, encoding: .utf8)) ?? ""
                throw TestSupportError("redis-server on port \(port) exited with \(code): \(log.suffix(400))")
            }
            try await Task.sleep(for: .milliseconds(25))
        }
        await pool.close()
        process.signal(SIGKILL)
        throw TestSupportError("redis-server on port \(port) did not answer PING")
    }

}
/// A failure inside the test support, with a message saying what.
public struct TestSupportError: Error, CustomStringConvertible {
    /// What failed.
    public let description: String
    /// A failure saying `description`.
    public init(_ description: String) { self.description = description }
}

import Foundation
import Glibc
import HeraldChannels
import HeraldDevTools
import HeraldService

/// A real `herald-ingestor`.
public typealias TestIngestor = TestWorker

/// A real worker process (`herald-ingestor` by default) against a test broker and redis-server.
public final class TestWorker: Sendable {
    /// The running executable.
    public let process: ChildProcess
    /// The ingestor's API base URL (workers without an API have one unused).
    public let apiURL: String
    /// The worker's `/metrics` base URL.
    public let metricsURL: String
    /// Where the worker's output goes.
    public let logFile: String
    /// A key of the ingest scope.
    public static let apiKey = "test-key-1"
    /// A key of the admin scope.
    public static let adminKey = "test-admin-key"
    /// A key of the read scope (contacts, journeys, messages).
    public static let readKey = "test-read-key"
    /// The `unsubscribe.secret` the workers get.
    public static let unsubscribeSecret = "test-unsubscribe-secret"

    /// How a test runs a worker's executable some other way (as another user,
    /// from another directory): the program and its arguments, given the
    /// executable's path.
    public typealias Launcher = @Sendable (String) -> (program: String, arguments: [String])

    /// Starts the executable (through `launcher` when given) and waits until /readyz answers 200.
    public init(
        _ worker: Worker = .ingestor, broker: TestBroker, redis: TestRedisServer, extraEnvironment: [String: String] = [:], executable: String? = nil,
        launcher: Launcher? = nil
    ) async throws {
        // Ports come from freeTCPPort, which another test may take before this
        // process binds them (suites run in parallel): on "Address already in use"
        // start again with new ports.
        var attempt = 0
        while true {
            attempt += 1
            let apiPort = freeTCPPort()
            let metricsPort = freeTCPPort()
            let dir = try temporaryDirectory(worker.executable)
            let logFile = "\(dir)/\(worker.rawValue).log"
            var env = [
                "HERALD_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrapServers,
                "HERALD_KAFKA_PARTITIONS": String(broker.partitions),
                "HERALD_REDIS_PORT": String(redis.port),
                "HERALD_API_HOST": "127.0.0.1",
                "HERALD_API_PORT": String(apiPort),
                "HERALD_METRICS_HOST": "127.0.0.1",
                "HERALD_\(worker.rawValue.uppercased())_METRICS_PORT": String(metricsPort),
                "HERALD_API_KEYS": "\(Self.apiKey),test-key-2",
                "HERALD_API_ADMIN_KEYS": Self.adminKey,
                "HERALD_API_READ_KEYS": Self.readKey,
                "HERALD_KAFKA_SESSION_TIMEOUT": "6s",
                "HERALD_UNSUBSCRIBE_SECRET": Self.unsubscribeSecret,
                "HERALD_CONFIG": "\(BuiltProducts.packageRoot)/config/herald.yaml",
                // The sandbox provider's credentials, which only dev mode accepts.
                "HERALD_DEV_MODE": "true",
                "HERALD_SENDER_WHATSAPP_TOKEN": "sandbox-token", "HERALD_SENDER_WHATSAPP_PHONE_NUMBER_ID": "sandbox-phone",
                "HERALD_SENDER_TWILIO_ACCOUNT_SID": "ACsandbox", "HERALD_SENDER_TWILIO_AUTH_TOKEN": "sandbox-token",
            ]
            env.merge(extraEnvironment) { _, new in new }
            let path = try executable ?? BuiltProducts.executable(worker.executable)
            let (program, arguments) = launcher?(path) ?? (path, [])
            let process = try ChildProcess(executable: program, arguments: arguments, environment: env, output: .file(logFile))
            do {
                try await waitUntilReady("http://127.0.0.1:\(metricsPort)/readyz", process: process, logFile: logFile)
                self.process = process
                self.logFile = logFile
                apiURL = "http://127.0.0.1:\(apiPort)"
                metricsURL = "http://127.0.0.1:\(metricsPort)"
                return
            } catch {
                process.signal(SIGKILL)
                let log = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
                guard attempt < 3, log.contains("Address already in use") else { throw error }
            }
        }
    }

    /// The process log so far (for failure messages).
    public var log: String { (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "" }

    deinit { process.signal(SIGKILL) }
}

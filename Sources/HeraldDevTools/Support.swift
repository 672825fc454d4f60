import Dispatch
import Foundation
import Glibc
import HeraldCore
import Synchronization

/// Where `heraldctl dev` keeps its state, relative to the working directory.
public enum DevPaths {
    /// Everything of the dev stack lives under this directory.
    public static let root = ".herald/dev"
    /// One log file per process of the stack.
    public static let logs = "\(root)/logs"
    /// redis-server's data directory.
    public static let redis = "\(root)/redis"
    /// The embedded broker's address, for other commands to find it.
    public static let brokerAddress = "\(root)/broker.addr"
    /// The stack's ingest API key.
    public static let apiKey = "\(root)/api-key"
    /// The stack's admin API key.
    public static let adminKey = "\(root)/admin-key"
    /// The ingestor's API URL.
    public static let apiURL = "\(root)/api.url"
    /// Where the stack's SMTP sink writes each email as an `.eml` file.
    public static let outbox = "\(root)/outbox"
    /// redis-server's port.
    public static let redisPort = "\(root)/redis.port"
}

/// The running dev stack's Redis port, if there is one.
public func devRedisPort() -> Int? {
    (try? String(contentsOfFile: DevPaths.redisPort, encoding: .utf8)).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
}

/// The workers' `kafka.topic_prefix` as the environment gives it
/// (`HERALD_KAFKA_TOPIC_PREFIX`), so `heraldctl dlq` and `tail` read and
/// replay the topics the fleet uses; "" when unset.
public func topicPrefixFromEnvironment() -> String {
    ProcessInfo.processInfo.environment["HERALD_KAFKA_TOPIC_PREFIX"] ?? ""
}

/// The bootstrap address: the flag, else HERALD_KAFKA_BOOTSTRAP_SERVERS, else the running dev stack's.
public func resolveBootstrap(_ flag: String?) throws -> String {
    if let flag { return flag }
    if let env = ProcessInfo.processInfo.environment["HERALD_KAFKA_BOOTSTRAP_SERVERS"] { return env }
    if let addr = try? String(contentsOfFile: DevPaths.brokerAddress, encoding: .utf8) {
        return addr.trimmingCharacters(in: .whitespacesAndNewlines)
    }
    throw CLIError("no broker address: pass --bootstrap, set HERALD_KAFKA_BOOTSTRAP_SERVERS, or start `heraldctl dev`")
}

/// A failure to report to the user, without a stack trace.
public struct CLIError: Error, CustomStringConvertible {
    /// What to tell the user.
    public let description: String
    /// An error saying `description`.
    public init(_ description: String) { self.description = description }
}

/// The directory holding this executable (the other Herald executables sit beside it).
public func executableDirectory() -> String {
    var buffer = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    let path = n > 0 ? String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : CommandLine.arguments[0]
    return (path as NSString).deletingLastPathComponent
}

/// SIGINT/SIGTERM noticed from the moment it is installed — also while a command
/// is still starting things, so Ctrl-C then stops what was started instead of
/// killing the process and orphaning its children.
///
/// A `sigaction` handler writes the signal number to a pipe (the self-pipe trick)
/// and a thread of its own reads it: nothing but one write(2) runs in the handler.
public final class TerminationSignal: Sendable {
    private let state = Mutex<(signal: Int32?, waiter: CheckedContinuation<Int32, Never>?)>((nil, nil))

    /// Installs the handlers for SIGINT and SIGTERM; call it once, first.
    public static func install() -> TerminationSignal {
        let t = TerminationSignal()
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { return t }
        terminationPipeWriter = fds[1]
        for sig in [SIGINT, SIGTERM] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = terminationHandler
            sigemptyset(&action.sa_mask)
            action.sa_flags = SA_RESTART
            sigaction(sig, &action, nil)
        }
        let reader = fds[0]
        // A plain thread: read(2) blocks, which must not happen on the cooperative pool.
        Thread.detachNewThread {
            var byte: UInt8 = 0
            while read(reader, &byte, 1) != 1 {}
            t.fire(Int32(byte))
        }
        return t
    }

    private func fire(_ sig: Int32) {
        let waiter = state.withLock { s -> CheckedContinuation<Int32, Never>? in
            s.signal = sig
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume(returning: sig)
    }

    /// - Throws: when a signal has arrived.
    func check() throws {
        if state.withLock({ $0.signal }) != nil { throw CLIError("interrupted: stopping what was started") }
    }

    /// Suspends until a signal arrives (at once if one already did).
    func wait() async -> Int32 {
        await withCheckedContinuation { continuation in
            let already = state.withLock { s -> Int32? in
                if let sig = s.signal { return sig }
                s.waiter = continuation
                return nil
            }
            if let already { continuation.resume(returning: already) }
        }
    }
}

/// Written only by `TerminationSignal.install` before the handlers exist.
nonisolated(unsafe) private var terminationPipeWriter: Int32 = -1

/// Async-signal-safe: one write(2).
private let terminationHandler: @convention(c) (Int32) -> Void = { sig in
    var byte = UInt8(truncatingIfNeeded: sig)
    _ = write(terminationPipeWriter, &byte, 1)
}

/// Suspends until SIGINT or SIGTERM arrives; returns the signal.
public func waitForTerminationSignal() async -> Int32 {
    await TerminationSignal.install().wait()
}

/// Percentile of sorted samples.
public func percentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    let rank = Int((p / 100 * Double(sorted.count - 1)).rounded())
    return sorted[min(max(rank, 0), sorted.count - 1)]
}

/// Now, UTC ms (the benches' clock).
public func nowMilliseconds() -> Int64 { WallClock.system.now() }

/// User + system CPU seconds of the local process whose command line names
/// `name` (nil when there is none, e.g. the stack runs elsewhere).
public func cpuSeconds(processNamed name: String) -> Double? {
    let pids = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).filter { Int($0) != nil }
    for pid in pids {
        guard let cmd = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"),
            let argv0 = String(decoding: cmd, as: UTF8.self).split(separator: "\0").first, argv0.hasSuffix("/\(name)"),
            let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { continue }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After "pid (comm)": state is field 3, utime 14 and stime 15 (clock ticks, 100/s).
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { continue }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
    return nil
}

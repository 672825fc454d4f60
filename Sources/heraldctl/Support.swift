import Dispatch
import Foundation
import Glibc
import HeraldCore
import Synchronization

/// Where `heraldctl dev` keeps its state, relative to the working directory.
enum DevPaths {
    static let root = ".herald/dev"
    static let logs = "\(root)/logs"
    static let redis = "\(root)/redis"
    static let brokerAddress = "\(root)/broker.addr"
    static let apiKey = "\(root)/api-key"
    static let adminKey = "\(root)/admin-key"
    static let apiURL = "\(root)/api.url"
    static let outbox = "\(root)/outbox"
}

/// The bootstrap address: the flag, else HERALD_KAFKA_BOOTSTRAP_SERVERS, else the running dev stack's.
func resolveBootstrap(_ flag: String?) throws -> String {
    if let flag { return flag }
    if let env = ProcessInfo.processInfo.environment["HERALD_KAFKA_BOOTSTRAP_SERVERS"] { return env }
    if let addr = try? String(contentsOfFile: DevPaths.brokerAddress, encoding: .utf8) {
        return addr.trimmingCharacters(in: .whitespacesAndNewlines)
    }
    throw CLIError("no broker address: pass --bootstrap, set HERALD_KAFKA_BOOTSTRAP_SERVERS, or start `heraldctl dev`")
}

/// A failure to report to the user, without a stack trace.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The directory holding this executable (the other Herald executables sit beside it).
func executableDirectory() -> String {
    var buffer = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    let path = n > 0 ? String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : CommandLine.arguments[0]
    return (path as NSString).deletingLastPathComponent
}

/// Suspends until SIGINT or SIGTERM arrives; returns the signal.
func waitForTerminationSignal() async -> Int32 {
    let sources = SignalSources()
    return await withCheckedContinuation { continuation in
        sources.install { continuation.resume(returning: $0) }
    }
}

/// Signal sources that resume once; kept alive until a signal arrived.
final class SignalSources: @unchecked Sendable {
    private var sources: [any DispatchSourceSignal] = []
    private let fired = Mutex(false)

    func install(_ onSignal: @escaping @Sendable (Int32) -> Void) {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [self] in
                if fired.withLock({ f in defer { f = true }; return !f }) {
                    onSignal(sig)
                    sources.forEach { $0.cancel() }
                }
            }
            source.resume()
            sources.append(source)
        }
    }
}

/// Percentile of sorted samples.
func percentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    let rank = Int((p / 100 * Double(sorted.count - 1)).rounded())
    return sorted[min(max(rank, 0), sorted.count - 1)]
}

func nowMilliseconds() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

import Foundation
import HeraldChannels
import HeraldDevTools
import HeraldService

/// The package's built executables (`swift build` puts them in .build/debug).
public enum BuiltProducts {
    /// The package root, found from this file's path.
    public static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// The path of a built executable.
    /// - Throws: when it has not been built (`swift build` first; scripts/test does).
    public static func executable(_ name: String) throws -> String {
        for dir in [".build/debug", ".build/x86_64-unknown-linux-gnu/debug", ".build/aarch64-unknown-linux-gnu/debug"] {
            let path = "\(packageRoot)/\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw TestSupportError("\(name) is not built: run `swift build` (scripts/test does) before the tests")
    }
}

/// Polls `url` until it answers 200 or `process` exits.
public func waitUntilReady(_ url: String, process: ChildProcess, logFile: String, timeout: Duration = .seconds(40)) async throws {
    let client = HTTPClient(concurrency: 1)
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if let code = process.poll() {
            throw TestSupportError("process exited with \(code) before it was ready; log:\n\((try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "")")
        }
        if let r = try? await client.get(url, timeout: .seconds(2)), r.status == 200 { return }
        try await Task.sleep(for: .milliseconds(100))
    }
    throw TestSupportError("\(url) was not ready within \(timeout); log:\n\((try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "")")
}

/// A temporary directory for a test's logs.
public func temporaryDirectory(_ prefix: String) throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString.prefix(8))").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

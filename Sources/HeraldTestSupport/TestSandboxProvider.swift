import Foundation
import Glibc
import HeraldChannels
import HeraldCore
import HeraldDevTools
import HeraldService

/// `heraldctl sandbox`: the WhatsApp Cloud API / Twilio stand-in, as a process.
public final class TestSandboxProvider: Sendable {
    /// The running `heraldctl sandbox`.
    public let process: ChildProcess
    /// Its base URL (both providers' APIs live under it).
    public let url: String
    let client = HTTPClient(concurrency: 1)

    /// Starts the sandbox with `arguments` and waits until it answers.
    public init(arguments: [String] = []) async throws {
        let dir = try temporaryDirectory("sandbox")
        let portFile = "\(dir)/port"
        process = try ChildProcess(
            executable: try BuiltProducts.executable("heraldctl"), arguments: ["sandbox", "--port", "0", "--port-file", portFile] + arguments,
            output: .file("\(dir)/sandbox.log"))
        var port = 0
        for _ in 0..<200 where port == 0 {
            port = (try? String(contentsOfFile: portFile, encoding: .utf8)).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 0
            if port == 0 { try await Task.sleep(for: .milliseconds(50)) }
        }
        guard port > 0 else {
            process.signal(SIGKILL)
            throw TestSupportError("the sandbox provider did not start")
        }
        url = "http://127.0.0.1:\(port)"
    }

    /// Every request the sandbox received, as it recorded them.
    public func requests() async throws -> [JSONValue] {
        try JSONValue.parse(try await client.get("\(url)/sandbox/requests").body)["requests"]?.arrayValue ?? []
    }

    /// Stops the sandbox.
    public func stop() async { _ = await process.stop() }
}

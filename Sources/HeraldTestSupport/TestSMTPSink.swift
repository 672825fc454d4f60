import Foundation
import Glibc
import HeraldDevTools
import HeraldService

/// A real SMTP server (aiosmtpd, via scripts/smtp-sink.py) that writes each
/// accepted message as an .eml file into `directory`.
public final class TestSMTPSink: Sendable {
    /// The running sink.
    public let process: ChildProcess
    /// The loopback port it accepts SMTP on.
    public let port: Int
    /// Where accepted messages are written, one `.eml` each.
    public let directory: String

    /// - Parameters:
    ///   - failFirst: answer the first N messages with 451.
    ///   - rejectDomain: refuse recipients at this domain with 550.
    ///   - port: listen here (a server coming back where one was down); a free port by default.
    ///   - delay: wait this long before answering each message (a slow server).
    public init(failFirst: Int = 0, rejectDomain: String = "", port: Int? = nil, delay: Duration = .zero) async throws {
        self.port = port ?? freeTCPPort()
        directory = try temporaryDirectory("smtp-sink")
        process = try ChildProcess(
            executable: "/usr/bin/env",
            arguments: [
                "python3", "\(BuiltProducts.packageRoot)/scripts/smtp-sink.py", "--port", String(self.port), "--dir", directory,
                "--fail-first", String(failFirst), "--reject-domain", rejectDomain, "--delay-ms", String(delay.milliseconds),
            ],
            output: .file("\(directory).log"))
        // Ready when it accepts connections.
        for _ in 0..<100 {
            if isListening(port: self.port) { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        process.signal(SIGKILL)
        throw TestSupportError("the SMTP sink did not start: \((try? String(contentsOfFile: "\(directory).log", encoding: .utf8)) ?? "")")
    }

    /// The messages received so far (raw RFC 5322 text).
    public func messages() -> [String] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".eml") && !$0.hasPrefix(".") }.sorted()
        return names.compactMap { try? String(contentsOfFile: "\(directory)/\($0)", encoding: .utf8) }
    }

    /// Stops the sink.
    public func stop() async { _ = await process.stop() }
}

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
        // A free port can be taken by another test before the sink binds it: then
        // it starts again on another (unless the port was asked for).
        var attempt = 0
        while true {
            attempt += 1
            let chosen = port ?? freeTCPPort()
            let directory = try temporaryDirectory("smtp-sink")
            let process = try ChildProcess(
                executable: "/usr/bin/env",
                arguments: [
                    "python3", "\(BuiltProducts.packageRoot)/scripts/smtp-sink.py", "--port", String(chosen), "--dir", directory,
                    "--fail-first", String(failFirst), "--reject-domain", rejectDomain, "--delay-ms", String(delay.milliseconds),
                ],
                output: .file("\(directory).log"))
            // Ready when it says it listens (its marker), not when the port answers: that could be another process's.
            for _ in 0..<100 where !FileManager.default.fileExists(atPath: "\(directory)/.listening") && process.poll() == nil {
                try await Task.sleep(for: .milliseconds(100))
            }
            if FileManager.default.fileExists(atPath: "\(directory)/.listening") {
                self.port = chosen
                self.directory = directory
                self.process = process
                return
            }
            process.signal(SIGKILL)
            let log = (try? String(contentsOfFile: "\(directory).log", encoding: .utf8)) ?? ""
            guard port == nil, attempt < 4, log.contains("address already in use") else {
                throw TestSupportError("the SMTP sink did not start: \(log)")
            }
        }
    }

    /// The messages received so far (raw RFC 5322 text).
    public func messages() -> [String] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".eml") && !$0.hasPrefix(".") }.sorted()
        return names.compactMap { try? String(contentsOfFile: "\(directory)/\($0)", encoding: .utf8) }
    }

    /// Stops the sink.
    public func stop() async { _ = await process.stop() }
}

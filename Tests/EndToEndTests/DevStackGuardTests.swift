import Foundation
import Glibc
import HeraldDevTools
import HeraldService
import HeraldTestSupport
import Testing

@Suite("heraldctl dev refuses to start a second stack instead of printing 'up'")
struct DevStackGuardTests {
    /// Runs `heraldctl dev` in `directory` and returns its exit code and output.
    func dev(in directory: String, _ arguments: [String]) async throws -> (Int32?, String) {
        let out = "\(directory)/dev.out"
        let child = try ChildProcess(
            executable: "/usr/bin/env", arguments: ["-C", directory, try BuiltProducts.executable("heraldctl"), "dev", "--exit-after-start"] + arguments,
            output: .file(out))
        let code = await child.wait(timeout: .seconds(20))
        if code == nil { child.signal(SIGKILL) }
        return (code, (try? String(contentsOfFile: out, encoding: .utf8)) ?? "")
    }

    @Test("a second `heraldctl dev` in the same directory is refused with the first one's pid, before it starts anything")
    func secondStack() async throws {
        let dir = try temporaryDirectory("dev-lock")
        try FileManager.default.createDirectory(atPath: "\(dir)/.herald/dev", withIntermediateDirectories: true)
        // The first stack: a process holding the lock, as `heraldctl dev` holds it.
        let holder = try ChildProcess(executable: "/usr/bin/flock", arguments: ["\(dir)/.herald/dev/lock", "sleep", "30"])
        defer { holder.signal(SIGKILL) }
        for _ in 0..<50 where !(try String(contentsOfFile: "/proc/\(holder.pid)/cmdline", encoding: .utf8)).contains("sleep") {
            try await Task.sleep(for: .milliseconds(20))
        }
        try "4242\n".write(toFile: "\(dir)/.herald/dev/lock", atomically: false, encoding: .utf8)
        let (code, output) = try await dev(in: dir, [])
        #expect(code == 1, "\(output)")
        #expect(output.contains("another `heraldctl dev` (pid 4242) is running in this directory"), "\(output)")
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/.herald/dev/logs"), "nothing was started")
    }

    @Test("a port another process holds is named, with what it is for, before anything starts")
    func portInUse() async throws {
        let dir = try temporaryDirectory("dev-port")
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = INADDR_ANY
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(bound == 0 && listen(fd, 1) == 0)
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        let port = Int(UInt16(bigEndian: addr.sin_port))
        let (code, output) = try await dev(in: dir, ["--api-port", String(port), "--metrics-port", String(freeTCPPort())])
        #expect(code == 1, "\(output)")
        #expect(output.contains("\(port) (the ingestor's API, --api-port)"), "\(output)")
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/.herald/dev/logs"), "nothing was started")
    }
}

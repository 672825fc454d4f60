import Foundation
import Glibc

/// What keeps a second `heraldctl dev` from pretending to start: one stack per
/// working directory (a lock), and ports that are free before anything starts.
/// Without them a second stack's workers died on `bind` while its readiness
/// checks were answered by the first stack's workers, and it printed "up".
enum DevGuard {
    /// Takes `.herald/dev/lock` for the life of this process (the kernel drops it
    /// when the process ends, however it ends).
    /// - Throws: `CLIError` naming the other stack's pid when it is held.
    static func lock() throws {
        let path = "\(DevPaths.root)/lock"
        try FileManager.default.createDirectory(atPath: DevPaths.root, withIntermediateDirectories: true)
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw CLIError("cannot open \(path): \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            close(fd)
            throw CLIError("another `heraldctl dev`\(holder.isEmpty ? "" : " (pid \(holder))") is running in this directory; stop it (Ctrl-C) first")
        }
        ftruncate(fd, 0)
        let pid = "\(getpid())\n"
        _ = pid.withCString { write(fd, $0, strlen($0)) }
        // fd stays open on purpose: the lock lasts as long as this process.
    }

    /// Refuses ports another process holds, naming each with what it is for.
    static func requireFree(_ ports: [(port: Int, what: String)]) throws {
        let taken = ports.filter { !isFree($0.port) }
        guard !taken.isEmpty else { return }
        throw CLIError(
            "port\(taken.count == 1 ? "" : "s") in use: " + taken.map { "\($0.port) (\($0.what))" }.joined(separator: ", ")
                + "; another Herald may be running — stop it, or choose other ports (--api-port, --metrics-port)")
    }

    /// Whether a listener could bind `port` on every address, as the workers do.
    static func isFree(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(truncatingIfNeeded: port).bigEndian)
        addr.sin_addr.s_addr = INADDR_ANY
        return withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            == 0
    }
}

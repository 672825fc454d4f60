import Glibc

/// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read it, close).
public func freeTCPPort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    precondition(fd >= 0, "socket() failed")
    defer { close(fd) }
    guard let port = bindLoopback(fd) else { preconditionFailure("bind() failed") }
    return port
}

/// Binds a socket to 127.0.0.1 on a port the kernel picks.
/// - Returns: that port, or nil when `bind` failed (`errno` says why).
public func bindLoopback(_ fd: Int32) -> Int? {
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = 0
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
    guard bound == 0 else { return nil }
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// Debian's redis-server (or one on PATH at /usr/local/bin).
public func redisServerExecutable() -> String {
    for p in ["/usr/bin/redis-server", "/usr/local/bin/redis-server"] where access(p, X_OK) == 0 { return p }
    return "/usr/bin/redis-server"
}

import Foundation
import Glibc
import HeraldCore

/// A child process started with `posix_spawn`, in its own process group.
///
/// Used by `heraldctl dev` for the fleet and by tests for real executables.
/// (Foundation's `Process.waitUntilExit` busy-spins a run loop on Linux when
/// called off the main thread; this waits with `waitpid` on a blocking queue.)
public final class ChildProcess: Sendable {
    /// The process id.
    public let pid: pid_t
    private let waiter: BlockingQueue
    private let status = LockedValue<Int32?>(nil)

    /// How the child's standard output and error are wired.
    public enum Output: Sendable {
        /// Inherit the parent's.
        case inherit
        /// Append both to this file.
        case file(String)
        /// Discard both.
        case null
    }

    /// Starts `executable` with `arguments`, the parent's environment plus `environment`.
    /// - Throws: `ChildProcessError` naming the executable and the errno text.
    public init(executable: String, arguments: [String] = [], environment: [String: String] = [:], output: Output = .inherit, stdoutPipe: Int32? = nil) throws {
        var fileActions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fileActions)
        defer { posix_spawn_file_actions_destroy(&fileActions) }
        switch output {
        case .inherit: break
        case .file(let path):
            posix_spawn_file_actions_addopen(&fileActions, 1, path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
            posix_spawn_file_actions_adddup2(&fileActions, 1, 2)
        case .null:
            posix_spawn_file_actions_addopen(&fileActions, 1, "/dev/null", O_WRONLY, 0)
            posix_spawn_file_actions_addopen(&fileActions, 2, "/dev/null", O_WRONLY, 0)
        }
        if let stdoutPipe { posix_spawn_file_actions_adddup2(&fileActions, stdoutPipe, 1) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Own process group: a Ctrl-C in the terminal reaches the parent only, which
        // then stops the children in order.
        // Threads of a Swift process may block or ignore signals; a child must start
        // with an empty mask and default handlers or it would never see SIGTERM.
        var empty = sigset_t()
        sigemptyset(&empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for sig in [SIGINT, SIGTERM, SIGHUP, SIGPIPE] { sigaddset(&defaults, sig) }
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        posix_spawnattr_setpgroup(&attributes, 0)

        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { _, new in new }
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &fileActions, &attributes, argv, envp)
        guard rc == 0 else { throw ChildProcessError(message: "cannot start \(executable): \(String(cString: strerror(rc)))") }
        self.pid = pid
        self.waiter = BlockingQueue(label: "child.\(pid)")
    }

    /// Sends `signal` (SIGTERM by default).
    public func signal(_ signal: Int32 = SIGTERM) {
        if status.get() == nil { kill(pid, signal) }
    }

    /// Waits for the child to exit and returns its exit status (128+signal if killed).
    public func wait() async -> Int32 {
        if let s = status.get() { return s }
        return await waiter.run { [pid, status] in
            if let s = status.get() { return s }
            var raw: Int32 = 0
            while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
            let code = (raw & 0x7f) == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
            status.set(code)
            return code
        }
    }

    /// Waits up to `timeout`; returns nil if the child is still running.
    public func wait(timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let s = poll() { return s }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return poll()
    }

    /// The exit status if the child has exited, without waiting.
    public func poll() -> Int32? {
        if let s = status.get() { return s }
        var raw: Int32 = 0
        let r = waitpid(pid, &raw, WNOHANG)
        guard r == pid else { return nil }
        let code = (raw & 0x7f) == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
        status.set(code)
        return code
    }

    /// SIGTERM, then SIGKILL after `grace`; returns the exit status.
    @discardableResult
    public func stop(grace: Duration = .seconds(10)) async -> Int32 {
        signal(SIGTERM)
        if let s = await wait(timeout: grace) { return s }
        signal(SIGKILL)
        return await wait()
    }
}

/// Why a child process could not be started.
public struct ChildProcessError: Error, CustomStringConvertible {
    /// What failed: the executable and the system's reason.
    public let message: String
    /// The message.
    public var description: String { message }
}

/// A value behind a lock, for state shared with blocking queues.
final class LockedValue<T: Sendable>: @unchecked Sendable {
    private var value: T
    private let lock = NSLock()
    init(_ value: T) { self.value = value }
    func get() -> T { lock.withLock { value } }
    func set(_ v: T) { lock.withLock { value = v } }
}

import Dispatch

/// A serial Dispatch queue that runs blocking C calls off Swift's cooperative
/// thread pool and hands the result back to async code.
///
/// On a 2-core machine the cooperative pool has 2 threads: two blocking calls made
/// directly from async code would freeze the whole process (STYLE.md). Every
/// blocking librdkafka / hiredis / libcurl call goes through one of these.
public final class BlockingQueue: Sendable {
    private let queue: DispatchQueue

    /// - Parameter label: shown in thread dumps; name the owner (`redis.slot.3`).
    public init(label: String) {
        self.queue = DispatchQueue(label: label)
    }

    /// Runs `work` on this queue, suspending the caller (not blocking a thread) until it returns.
    public func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                do {
                    continuation.resume(returning: try work())
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    /// Runs non-throwing `work` on this queue and returns its result.
    public func run<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: work()) }
        }
    }

    /// Runs `work` on this queue without waiting for it.
    public func async(_ work: @escaping @Sendable () -> Void) {
        queue.async(execute: work)
    }

    /// Runs `work` on this queue and blocks the calling thread until it is done.
    /// - Warning: never call this from async code; it is for deinit and C callbacks.
    public func sync<T>(_ work: () throws -> T) rethrows -> T {
        try queue.sync(execute: work)
    }
}

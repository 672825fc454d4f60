import Synchronization

/// Hands out slot indices 0..<count, one caller per slot at a time; callers wait
/// (suspended, FIFO) when all are taken. The owner of a slot is the only user of
/// whatever that slot holds (a hiredis context, a curl handle).
public final class SlotPool: Sendable {
    private struct State {
        var free: [Int]
        var waiters: [CheckedContinuation<Int, any Error>] = []
        var closed = false
    }

    private let state: Mutex<State>

    /// A pool of `count` slots, all free.
    public init(count: Int) {
        precondition(count > 0, "a slot pool needs at least one slot")
        state = Mutex(State(free: Array((0..<count).reversed())))
    }

    /// Waits for a free slot.
    /// - Throws: `SlotPoolClosed` once `close()` was called.
    public func acquire() async throws -> Int {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Int, any Error>) in
            let ready: Result<Int, any Error>? = state.withLock { s in
                if s.closed { return .failure(SlotPoolClosed()) }
                if let index = s.free.popLast() { return .success(index) }
                s.waiters.append(c)
                return nil
            }
            if let ready { c.resume(with: ready) }
        }
    }

    /// Returns a slot; the longest waiter gets it.
    public func release(_ index: Int) {
        let waiter = state.withLock { s -> CheckedContinuation<Int, any Error>? in
            if !s.waiters.isEmpty { return s.waiters.removeFirst() }
            s.free.append(index)
            return nil
        }
        waiter?.resume(returning: index)
    }

    /// Refuses new callers and fails the waiting ones.
    public func close() {
        let waiters = state.withLock { s in
            s.closed = true
            defer { s.waiters.removeAll() }
            return s.waiters
        }
        for w in waiters { w.resume(throwing: SlotPoolClosed()) }
    }
}

/// The pool was closed.
public struct SlotPoolClosed: Error, CustomStringConvertible {
    /// "the pool is closed".
    public var description: String { "the pool is closed" }
}

import Foundation
import Synchronization

/// Calls `body` every `interval` on a thread of its own until stopped.
///
/// For `AssignmentTrust`'s stall detection: a task on the cooperative pool would
/// tick late whenever the pool is busy, which is not the stall it looks for.
final class Ticker: Sendable {
    private let stopped = Atomic<Bool>(false)

    init(every interval: Duration, _ body: @escaping @Sendable () -> Void) {
        let micros = UInt32(clamping: interval.milliseconds * 1000)
        // The thread holds the ticker until `stop()`, and nothing else.
        Thread.detachNewThread { [self] in
            while !stopped.load(ordering: .relaxed) {
                usleep(micros)
                body()
            }
        }
    }

    func stop() { stopped.store(true, ordering: .relaxed) }
}

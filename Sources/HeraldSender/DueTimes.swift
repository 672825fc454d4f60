import Foundation
import HeraldCore
import Synchronization

/// When each shard next has a message due, as far as this process knows: what
/// the retry poller last read of the shard, and every message this process
/// parked since (from the consumer or the poller, `SendProcessor.write`).
///
/// The poller then reads only the shards due by now. Reading every owned shard at
/// each wake cost 48 commands, and a rate's backlog wakes it at every turn (200
/// times a second at 200/s): 51 commands per message sent, most of Redis's work
/// for such a backlog (docs/benchmarks.md). A time kept here may be earlier than
/// the shard's real next (a message since claimed): that costs one read of one
/// shard. Anything this process cannot know (a lease of a sender that died, a
/// shard just assigned, a tier change's bring-forward) is found by the poller's
/// sweep of all its shards every `interval`.
///
/// The poller sleeps here (`sleep(until:)`), and a note earlier than its wake-up
/// wakes it: a message the consumer parks for 20 ms (a rate's turn, a quick
/// retry) is looked at then, not at the next sweep up to 250 ms later.
final class DueTimes: Sendable {
    private struct State {
        var times: [Int: Int64] = [:]
        /// The poller, while it sleeps: until when (UTC ms), and how to wake it.
        var sleeper: (until: Int64, id: UInt64, continuation: CheckedContinuation<Void, Never>)?
        var nextId: UInt64 = 0
        /// A sleep whose timer fired before it was in place (a short pause on a
        /// busy machine): it ends as soon as it begins. Without this the poller
        /// slept until the next note — its sweep of dead senders' leases included.
        var wokenEarly: UInt64 = 0
    }

    private let state = Mutex(State())
    /// The wall clock the due times are on.
    private let clock: WallClock

    init(clock: WallClock = .system) { self.clock = clock }

    /// A message of `shard` falls due at `at` (UTC ms); the earliest known is
    /// kept. Wakes the sleeping poller if that is before its wake-up.
    func note(shard: Int, at: Int64) {
        let woken = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.times[shard] = min(s.times[shard] ?? at, at)
            guard let sleeper = s.sleeper, at < sleeper.until else { return nil }
            s.sleeper = nil
            return sleeper.continuation
        }
        woken?.resume()
    }

    /// The shards with a message due by `now`, forgotten here until noted again.
    func take(dueBy now: Int64) -> [Int] {
        state.withLock { s in
            let due = s.times.filter { $0.value <= now }.map(\.key).sorted()
            for shard in due { s.times[shard] = nil }
            return due
        }
    }

    /// The earliest time any shard is known to fall due.
    var earliest: Int64? { state.withLock { $0.times.values.min() } }

    /// Sleeps until `until` (UTC ms; at least `minimum`), or until a message is
    /// noted that falls due before it, or the task is cancelled. One sleeper at a
    /// time (the poller). A note that came in since the caller chose `until`
    /// (one due before it) ends the sleep at once.
    func sleep(until: Int64, minimum: Duration = .milliseconds(1)) async {
        let id = state.withLock { s -> UInt64 in
            s.nextId += 1
            return s.nextId
        }
        // The due times are UTC ms on the wall clock; the pause is slept on the
        // monotonic one.
        let pause = max(minimum, .milliseconds(until - clock.now()))
        let timer = Task { [self] in
            try? await Task.sleep(for: pause)
            wake(id)
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let dueSooner = state.withLock { s -> Bool in
                    if s.wokenEarly == id || Task.isCancelled || s.times.values.contains(where: { $0 < until }) { return true }
                    s.sleeper = (until, id, continuation)
                    return false
                }
                if dueSooner { continuation.resume() }
            }
        } onCancel: {
            wake(id)
        }
        timer.cancel()
    }

    /// Wakes sleep `id` if it is still sleeping, or ends it as it begins.
    private func wake(_ id: UInt64) {
        let woken = state.withLock { s -> CheckedContinuation<Void, Never>? in
            guard let sleeper = s.sleeper, sleeper.id == id else {
                s.wokenEarly = id
                return nil
            }
            s.sleeper = nil
            return sleeper.continuation
        }
        woken?.resume()
    }
}

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
final class DueTimes: Sendable {
    private let times = Mutex<[Int: Int64]>([:])

    /// A message of `shard` falls due at `at` (UTC ms); the earliest known is kept.
    func note(shard: Int, at: Int64) {
        times.withLock { $0[shard] = min($0[shard] ?? at, at) }
    }

    /// The shards with a message due by `now`, forgotten here until noted again.
    func take(dueBy now: Int64) -> [Int] {
        times.withLock { times in
            let due = times.filter { $0.value <= now }.map(\.key).sorted()
            for shard in due { times[shard] = nil }
            return due
        }
    }

    /// The earliest time any shard is known to fall due.
    var earliest: Int64? { times.withLock { $0.values.min() } }
}

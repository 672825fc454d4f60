import HeraldKafka
import HeraldRedis
import Synchronization

/// The shards this scheduler owns and their fencing tokens.
///
/// A shard is owned while its `herald.journeys` partition is assigned to this
/// process. Its token is taken (`INCR`) on first use; a save with an older token
/// fails (`fenced`). After `fenced`, a process that *still* has the partition takes
/// a fresh token and retries, one that lost it gives up — so ownership converges on
/// the consumer group's assignment even when assignment and revocation notices
/// arrive late. Transitions are deterministic and idempotent, so the brief overlap
/// such lateness allows can at worst repeat an effect that is deduplicated downstream.
final class ShardOwnership: Sendable {
    private let epochs = Mutex<[Int: Int64]>([:])
    private let journeys: JourneyStore
    private let assigned = Mutex<(@Sendable (Int) -> Bool)?>(nil)

    init(journeys: JourneyStore) { self.journeys = journeys }

    /// Tells how to ask whether a shard's partition is assigned right now.
    func track(_ isAssigned: @escaping @Sendable (Int) -> Bool) {
        assigned.withLock { $0 = isAssigned }
    }

    func isAssigned(_ shard: Int) -> Bool {
        assigned.withLock { $0 }?(shard) ?? false
    }

    /// The token for `shard`, claiming it first if needed.
    /// - Throws: `NotOwner` when the partition is not assigned to this process.
    func epoch(for shard: Int) async throws -> Int64 {
        if let e = epochs.withLock({ $0[shard] }) { return e }
        return try await reclaim(shard)
    }

    /// Takes a fresh token if the partition is still assigned here.
    func reclaim(_ shard: Int) async throws -> Int64 {
        guard isAssigned(shard) else {
            release([shard])
            throw NotOwner(shard: shard)
        }
        let e = try await journeys.claim(shard: shard)
        epochs.withLock { $0[shard] = e }
        return e
    }

    /// Forgets shards whose partitions were revoked.
    func release(_ shards: [Int]) {
        epochs.withLock { e in for s in shards { e.removeValue(forKey: s) } }
    }
}

/// This process does not own the shard (its partition is assigned elsewhere).
struct NotOwner: Error, CustomStringConvertible {
    let shard: Int
    var description: String { "shard \(shard) is not owned by this scheduler" }
}

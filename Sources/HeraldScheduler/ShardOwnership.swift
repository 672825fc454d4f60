import HeraldKafka
import HeraldRedis
import Synchronization

/// The shards this scheduler owns and their fencing tokens.
///
/// A shard is owned while its `herald.journeys` partition is assigned to this
/// process. Its token is taken (`INCR`) on first use — once per shard however many
/// transitions run concurrently (single flight). A save with an older token fails
/// (`fenced`): if the partition is still assigned here (a late notice) the process
/// takes a fresh token, unless a concurrent transition already did; if it lost the
/// partition it gives up. Ownership so converges on the group's assignment;
/// transitions are deterministic and idempotent, so the brief overlap late notices
/// allow can at worst repeat an effect that is deduplicated downstream.
final class ShardOwnership: Sendable {
    private struct State {
        var epochs: [Int: Int64] = [:]
        var claiming: Set<Int> = []
    }

    private let state = Mutex(State())
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
        enum Step { case have(Int64), wait, claim }
        while true {
            let step = state.withLock { s -> Step in
                if let e = s.epochs[shard] { return .have(e) }
                if s.claiming.contains(shard) { return .wait }
                s.claiming.insert(shard)
                return .claim
            }
            switch step {
            case .have(let e): return e
            case .wait: try await Task.sleep(for: .milliseconds(2))
            case .claim:
                defer { state.withLock { _ = $0.claiming.remove(shard) } }
                guard isAssigned(shard) else { throw NotOwner(shard: shard) }
                let e = try await journeys.claim(shard: shard)
                state.withLock { $0.epochs[shard] = e }
                return e
            }
        }
    }

    /// After a save with `failed` was fenced: the token to retry with.
    func afterFenced(shard: Int, failed: Int64) async throws -> Int64 {
        let current = state.withLock { s -> Int64? in
            if s.epochs[shard] == failed { s.epochs.removeValue(forKey: shard) }
            return s.epochs[shard]
        }
        if let current { return current }  // a concurrent transition already took a fresh one
        return try await epoch(for: shard)
    }

    /// Forgets shards whose partitions were revoked.
    func release(_ shards: [Int]) {
        state.withLock { s in for shard in shards { s.epochs.removeValue(forKey: shard) } }
    }
}

/// This process does not own the shard (its partition is assigned elsewhere).
struct NotOwner: Error, CustomStringConvertible {
    let shard: Int
    var description: String { "shard \(shard) is not owned by this scheduler" }
}

/// One transition per contact at a time in this process: the consumer (events) and
/// the poller (wake-ups) may both reach a contact; their read-modify-write of its
/// journeys must not interleave. (Across processes, fencing does this job.)
final class ContactLocks: Sendable {
    private let held = Mutex<Set<String>>([])

    func withLock<T: Sendable>(_ contactId: String, _ body: () async throws -> T) async throws -> T {
        while !held.withLock({ $0.insert(contactId).inserted }) {
            try await Task.sleep(for: .milliseconds(1))
        }
        defer { held.withLock { _ = $0.remove(contactId) } }
        return try await body()
    }

    /// Locks those of `contactIds` that are free now (without waiting) and returns
    /// them, in the order given; release them with `unlock`.
    func tryLock(_ contactIds: [String]) -> [String] {
        held.withLock { h in contactIds.filter { h.insert($0).inserted } }
    }

    func unlock(_ contactIds: [String]) {
        held.withLock { h in for c in contactIds { h.remove(c) } }
    }
}

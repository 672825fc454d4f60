import HeraldCore
import HeraldKafka
import HeraldRedis
import Synchronization

/// The shards this scheduler owns and their fencing tokens.
///
/// A shard is owned while its `herald.journeys` partition is assigned to this
/// process and the consumer trusts that assignment (`KafkaConsumer.ownershipDoubt`:
/// no stall, no fence in the last session timeout). Its token is taken (`INCR`)
/// on first use — once per shard however many transitions run concurrently
/// (single flight). A save with an older token fails (`fenced`): the token is
/// dropped and the shard is in doubt for a session timeout, never re-taken on
/// the spot. Re-taking at once made two processes that both believed they owned
/// a shard (one of them stale after a pause) fence each other in turn, each
/// writing between the other's claims; now the stale one learns of its revoke
/// within the doubt, and only the group's owner takes the token again.
final class ShardOwnership: Sendable {
    private struct State {
        var epochs: [Int: Int64] = [:]
        var claiming: Set<Int> = []
    }

    private let state = Mutex(State())
    private let journeys: JourneyStore
    private let consumer = Mutex<KafkaConsumer?>(nil)

    init(journeys: JourneyStore) { self.journeys = journeys }

    /// The consumer whose assignment (and trust in it) decides ownership.
    func track(_ consumer: KafkaConsumer) {
        self.consumer.withLock { $0 = consumer }
    }

    private static func partition(_ shard: Int) -> TopicPartition { TopicPartition(topic: Topics.journeys, partition: shard) }

    /// Throws unless this process may act as `shard`'s owner now.
    /// - Throws: `NotOwner` when the partition is assigned elsewhere;
    ///   `PartitionInDoubt` when it is assigned here but the assignment may be stale.
    func confirm(_ shard: Int) throws {
        guard let consumer = consumer.withLock({ $0 }) else { throw NotOwner(shard: shard) }
        let partition = Self.partition(shard)
        guard consumer.assignment.contains(partition) else { throw NotOwner(shard: shard) }
        if let reason = consumer.ownershipDoubt(partition) { throw PartitionInDoubt(partition: partition, reason: reason) }
    }

    /// The token for `shard`, claiming it first if needed.
    /// - Throws: what `confirm` throws.
    func epoch(for shard: Int) async throws -> Int64 {
        enum Step { case have(Int64), wait, claim }
        while true {
            try confirm(shard)
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
                try confirm(shard)
                let e = try await journeys.claim(shard: shard)
                state.withLock { $0.epochs[shard] = e }
                return e
            }
        }
    }

    /// A save with `failed` was fenced: drops the token and puts the shard in
    /// doubt. Returns the error to throw.
    func fenced(shard: Int, failed: Int64) -> PartitionInDoubt {
        state.withLock { s in if s.epochs[shard] == failed { s.epochs.removeValue(forKey: shard) } }
        let partition = Self.partition(shard)
        consumer.withLock { $0 }?.fenced(partition)
        return PartitionInDoubt(partition: partition, reason: "a save was fenced: another scheduler took the shard's token")
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

/// When a consumer may act as the owner of the partitions assigned to it.
///
/// librdkafka learns that the group moved a partition only inside a consumer
/// poll, so the assignment a process sees can be stale in two ways, and each is
/// a reason for doubt until the group has had a session timeout to tell us
/// (docs/reliability.md, "Shard ownership"):
///
/// - **A stall.** A process that made no progress for half a session timeout
///   (SIGSTOP, a frozen host, a long pause) may have been removed from the
///   group meanwhile; the partitions it still lists may be someone else's. A
///   ticker notices the gap; until then the stale tick itself is the doubt.
/// - **A fence.** Work for a partition was refused because another process
///   took its fencing token: either that process is the new owner (and our
///   revoke is on its way) or it is the stale one (and its own doubt stops it).
///
/// Either doubt ends once a poll completes a session timeout after it began and
/// the partition is still assigned: by then a revoke, had there been one, was
/// served. Doubt is never cleared by a rebalance callback alone: one queued
/// before the stall can be served after it.
///
/// Pure state, times passed in: `KafkaConsumer` owns one behind a lock.
struct AssignmentTrust: Sendable {
    typealias Instant = ContinuousClock.Instant

    /// How long doubt lasts: the group's session timeout.
    let window: Duration
    /// A gap between ticks longer than this is a stall.
    let stallThreshold: Duration

    private var lastTick: Instant
    private var stalledAt: Instant?
    private var fencedAt: [TopicPartition: Instant] = [:]

    init(sessionTimeout: Duration, now: Instant) {
        window = sessionTimeout
        stallThreshold = sessionTimeout / 2
        lastTick = now
    }

    /// The ticker's heartbeat: a late one records a stall.
    mutating func tick(at now: Instant) {
        if now - lastTick > stallThreshold { stalledAt = now }
        lastTick = now
    }

    /// A consumer poll returned at `now`: doubts a window old end.
    mutating func polled(at now: Instant) {
        if let s = stalledAt, now - s >= window { stalledAt = nil }
        if !fencedAt.isEmpty { fencedAt = fencedAt.filter { now - $0.value < window } }  // every poll: no copy when nothing is fenced
    }

    /// Another process took `partition`'s fencing token.
    mutating func fenced(_ partition: TopicPartition, at now: Instant) {
        fencedAt[partition] = now
    }

    /// Why this process may not act as the owner of `partition` now, or nil when it may.
    func doubt(about partition: TopicPartition, at now: Instant) -> String? {
        if now - lastTick > stallThreshold { return "the process has not run for \(now - lastTick) (stalled); the group may have moved its partitions" }
        if let s = stalledAt { return "the process stalled \(now - s) ago; waiting a session timeout of polls for the group's verdict" }
        if let f = fencedAt[partition] {
            return "another process took \(partition)'s fencing token \(now - f) ago; waiting a session timeout of polls for the group's verdict"
        }
        return nil
    }
}

/// Work for a partition this process may not own any more (`AssignmentTrust`).
///
/// A consumer handler that throws it has its batch rewound: the consumer seeks
/// the batch's partitions back to its first records and polls again, so the
/// group's verdict (a revoke, or the doubt's end) can arrive, and nothing is
/// stored, skipped or dead-lettered.
public struct PartitionInDoubt: Error, Sendable, CustomStringConvertible {
    /// The partition whose ownership is uncertain.
    public let partition: TopicPartition
    /// Why: not assigned here, the process stalled, or another process fenced it.
    public let reason: String

    /// Doubt about `partition`, for `reason`.
    public init(partition: TopicPartition, reason: String) {
        self.partition = partition
        self.reason = reason
    }

    /// What is in doubt and why, for logs.
    public var description: String { "ownership of \(partition) is in doubt: \(reason)" }
}

import Foundation
import Synchronization

/// The claims this sender process asked Redis for and got no answer to.
///
/// A claim script that ran just before Redis died (or before the connection
/// dropped) leaves the message `in_progress` under this process's lease, while
/// the process saw only an error and so made no provider call. Retried as any
/// claim, the message would be `busy` until the lease ran out and then end
/// `sending_failed` "outcome unknown": never sent (a reminder lost in
/// `RedisCrashTests.killRedis`). This process alone knows it made no call, so it
/// names itself in every claim (`claimant`) and asks for exactly these claims
/// back (`MessageStore.claim(many:claimant:resuming:)`). A call made after a
/// claim that was answered is never resumed: those ids are not in the set.
final class UnansweredClaims: Sendable {
    /// This process's name in its claims: unique per start, so another process
    /// (or this one after a restart, which cannot know) never takes it for its own.
    let claimant = "sender-" + UUID().uuidString
    private let ids = Mutex<Set<String>>([])
    /// Unanswered claims not yet made due again (`MessageStore.resume`), by shard:
    /// a message the retry poller handles would otherwise come back to this
    /// sender only when its lease runs out.
    private let toResume = Mutex<[String: Int]>([:])
    /// Bounds the set if claims keep failing for messages that never come back
    /// (a partition moved away): beyond it the set is emptied, and those
    /// messages end as they would without it (`sending_failed`, never twice).
    static let limit = 100_000

    /// Per message id: whether its last claim went unanswered; empty (none) in
    /// the common case, which `MessageStore.claim` reads as all false. Taken:
    /// an id is resumed by one claim only. The same message can come to this
    /// sender twice at once (its batch's retry, and the retry poller once
    /// `MessageStore.resume` made it due): the second claim then finds it busy
    /// instead of resuming it too, so two calls cannot go out. A claim that
    /// fails again puts it back (`failed`).
    func resuming(_ messageIds: [String]) -> [Bool] {
        ids.withLock { set in set.isEmpty ? [] : messageIds.map { set.remove($0) != nil } }
    }

    /// The claim call for these failed: Redis may or may not have run it.
    func failed(_ claims: [(shard: Int, id: String)]) {
        ids.withLock { set in
            if set.count + claims.count > Self.limit { set.removeAll(keepingCapacity: true) }
            set.formUnion(claims.map(\.id))
        }
        toResume.withLock { pending in
            if pending.count + claims.count > Self.limit { pending.removeAll(keepingCapacity: true) }
            for c in claims { pending[c.id] = c.shard }
        }
    }

    /// Takes the unanswered claims to make due again: those no claim has
    /// resumed or been answered for since (one in flight for it would find the
    /// message busy on every pass until its call ends).
    func takeToResume() -> [(shard: Int, id: String)] {
        let taken = toResume.withLock { pending in
            defer { pending.removeAll(keepingCapacity: true) }
            return pending.map { (shard: $0.value, id: $0.key) }
        }
        return ids.withLock { set in taken.filter { set.contains($0.id) } }
    }

    /// Puts back claims `takeToResume` gave that could not be made due.
    func keep(_ claims: [(shard: Int, id: String)]) {
        toResume.withLock { pending in for c in claims where pending.count < Self.limit { pending[c.id] = c.shard } }
    }

    /// The claim call for these was answered.
    func answered(_ messageIds: [String]) {
        ids.withLock { set in
            guard !set.isEmpty else { return }
            for id in messageIds { set.remove(id) }
        }
    }
}

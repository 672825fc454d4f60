/// Where a message is. States only move forward (`rank` grows), so a late
/// `delivered` never overwrites `read`, and a replayed request never reopens a
/// message that already ended.
public enum MessageState: String, Sendable, CaseIterable {
    case initial
    /// Claimed by a sender that is calling the provider now.
    case inProgress = "in_progress"
    /// A try failed for a reason that may pass; the next attempt is scheduled.
    case retryScheduled = "retry_scheduled"
    case sent
    case delivered
    case read
    /// Every allowed attempt failed.
    case error
    /// The address or phone number is malformed; checked before any attempt.
    case invalidRecord = "invalid_record"
    /// The provider refused it for good (no retry), or the outcome is unknown
    /// after a crash mid-call (never retried, so never sent twice).
    case sendingFailed = "sending_failed"
    /// The campaign was stopped, or the contact may not receive it (unsubscribed).
    case cancelled

    /// Order of progress. `retryScheduled` and `inProgress` alternate while
    /// attempts last, so they share a rank below every final state.
    public var rank: Int {
        switch self {
        case .initial: 0
        case .inProgress, .retryScheduled: 1
        case .sent: 2
        case .delivered: 3
        case .read: 4
        case .error, .invalidRecord, .sendingFailed, .cancelled: 5
        }
    }

    /// No further attempt will be made.
    public var isFinal: Bool { rank >= 2 }

    /// Whether a message in `self` may move to `next`.
    public func allows(_ next: MessageState) -> Bool {
        switch next {
        case .initial: false
        // Attempts alternate with scheduled retries.
        case .inProgress: self == .initial || self == .retryScheduled
        // After a failed attempt, or parked by a rate limit before one.
        case .retryScheduled: self == .inProgress || self == .initial || self == .retryScheduled
        // Decided before any provider call: never over a message that went out.
        case .cancelled: self == .initial || self == .retryScheduled
        case .invalidRecord: self == .initial
        case .error: self == .inProgress
        // A provider's refusal, also reported after `sent` (a bounce, a failed status).
        case .sendingFailed: self == .initial || self == .inProgress || self == .retryScheduled || self == .sent || self == .delivered
        // Provider statuses only move forward: a late `delivered` never overwrites `read`.
        case .sent, .delivered, .read: (self == .inProgress || self == .retryScheduled || self == .sent || self == .delivered) && next.rank > rank
        }
    }
}

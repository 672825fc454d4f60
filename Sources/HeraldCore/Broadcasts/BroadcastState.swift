/// Where a broadcast is: draft → scheduled → running ⇄ paused → finished, or
/// cancelled from any state before finished.
public enum BroadcastState: String, Sendable, CaseIterable {
    /// Being prepared: recipients can be added; nothing is sent.
    case draft
    /// Starts by itself at its `start_at`.
    case scheduled
    /// Its recipients are being sent to.
    case running
    /// Held: nothing more is handed to a provider until it is resumed.
    case paused
    /// Every recipient reached a final state.
    case finished
    /// Ended by an administrator: recipients not yet sent to are `cancelled`.
    case cancelled

    /// An administrator's action on a broadcast.
    public enum Action: String, Sendable, CaseIterable {
        /// Starts it now, or at its `start_at` if that is ahead.
        case start
        /// Holds sending.
        case pause
        /// Sends again after a pause.
        case resume
        /// Ends it: recipients not yet sent to are cancelled.
        case cancel
        /// Sends again to the recipients that ended `error` or `sending_failed`
        /// (not those whose outcome is unknown: the provider may have them).
        case retryFailed = "retry-failed"
    }

    /// Whether the sender may hand its messages to a provider.
    public var sends: Bool { self == .running }

    /// No further change (recipients can no longer be added).
    public var isFinal: Bool { self == .finished || self == .cancelled }

    /// The state `action` leads to from here, with `startAt` (UTC ms) deciding
    /// between scheduled and running; nil when the action does not apply.
    public func after(_ action: Action, startAt: Int64?, now: Int64) -> BroadcastState? {
        switch (action, self) {
        case (.start, .draft): return (startAt ?? now) > now ? .scheduled : .running
        case (.pause, .running), (.pause, .scheduled): return .paused
        case (.resume, .paused): return (startAt ?? now) > now ? .scheduled : .running
        case (.cancel, .draft), (.cancel, .scheduled), (.cancel, .running), (.cancel, .paused): return .cancelled
        case (.retryFailed, .finished), (.retryFailed, .running): return .running
        case (.retryFailed, .paused): return .paused
        default: return nil
        }
    }
}

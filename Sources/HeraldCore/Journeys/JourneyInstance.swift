/// One contact's walk through one version of a campaign.
public struct JourneyInstance: Sendable, Hashable {
    /// The journey's id, unique per contact (the caller of `JourneyEngine.enter` chooses it).
    public var id: String
    /// The campaign it belongs to.
    public var campaignId: String
    /// The campaign version it entered; it stays on it.
    public var version: Int
    /// The contact walking it.
    public var contactId: String
    /// Properties of the event that let it in (conditions may read them).
    public var triggerEvent: [String: JSONValue]
    /// Running, waiting until a time, completed or exited.
    public var status: JourneyStatus
    /// The step it is in (waiting in, or about to run).
    public var stepId: String
    /// Transitions so far; each effect is keyed by (instance, sequence) so a replay is a no-op.
    public var sequence: Int
    /// How often each step was entered (for idempotency keys of steps in loops).
    public var visits: [String: Int]
    /// Test journeys: waits shortened, left out of reports.
    public var isTest: Bool
    /// When it entered, UTC ms.
    public var enteredAt: Int64

    /// A running journey at step `stepId`, never advanced.
    public init(
        id: String, campaignId: String, version: Int, contactId: String, triggerEvent: [String: JSONValue], stepId: String, enteredAt: Int64,
        isTest: Bool = false
    ) {
        self.id = id
        self.campaignId = campaignId
        self.version = version
        self.contactId = contactId
        self.triggerEvent = triggerEvent
        self.status = .running
        self.stepId = stepId
        self.sequence = 0
        self.visits = [:]
        self.isTest = isTest
        self.enteredAt = enteredAt
    }
}

/// Where a journey is.
public enum JourneyStatus: Sendable, Hashable {
    case running
    /// Waiting in `stepId` until this UTC millisecond.
    case waiting(until: Int64)
    case completed(at: Int64)
    case exited(reason: ExitReason, at: Int64)

    /// Running or waiting: not yet completed or exited.
    public var isActive: Bool {
        switch self {
        case .running, .waiting: true
        case .completed, .exited: false
        }
    }
}

/// Why a journey ended early.
public enum ExitReason: String, Sendable, Hashable {
    /// An exit event arrived (e.g. purchase).
    case exitEvent = "exit_event"
    /// The contact no longer matches the audience.
    case audience
    /// A split matched no branch and had no else.
    case noBranch = "no_branch"
    /// The campaign was stopped with `now`.
    case stopped
    /// Test mode restarted it.
    case restarted
}

/// What a transition asks the world to do. The scheduler performs these; the
/// engine only decides them.
public enum JourneyEffect: Sendable, Hashable {
    case send(SendStep, idempotencyKey: String)
    case updateContact([String: JSONValue])
    case addTag(String)
    case removeTag(String)
    case subscribe(list: String)
    case unsubscribe(list: String)
    case addNote(String)
    case webhook(url: String, idempotencyKey: String)
    case startCampaign(String)
    /// Wake the journey at this UTC millisecond.
    case wakeUp(at: Int64)
}

/// One node of a campaign's graph.
public struct Step: Sendable, Hashable {
    /// The step's id, unique in its campaign.
    public var id: String
    /// What the step does.
    public var kind: StepKind
    /// Where to go after this step; nil ends the journey (splits name their own).
    public var next: String?
    /// Line of the step in its file, for messages.
    public var line: Int

    /// Every step this one can lead to.
    public var successors: [String] {
        switch kind {
        case .split(let branches, let otherwise): branches.map(\.next) + (otherwise.map { [$0] } ?? [])
        case .randomSplit(let branches): branches.map(\.next)
        case .end: []
        default: next.map { [$0] } ?? []
        }
    }

    /// Whether time passes in this step (a cycle must contain one).
    public var waits: Bool {
        switch kind {
        case .wait, .waitUntil: true
        default: false
        }
    }
}

/// What a send step asks for.
public struct SendStep: Sendable, Hashable {
    /// The channel to send on.
    public var channel: Channel
    /// The template's name (for `webhook`: the URL).
    public var template: String
    /// The category caps and opt-outs use (`marketing` when nil).
    public var category: String?
    /// The account to send from (a WhatsApp number's name, `config/accounts/whatsapp/<name>.yaml`);
    /// nil: the channel's default account.
    public var account: String?
    /// The WhatsApp template's language (`cs`, `en_US`); nil: the one in its template file.
    public var language: String?

    /// A send on `channel` of `template`.
    public init(channel: Channel, template: String, category: String? = nil, account: String? = nil, language: String? = nil) {
        self.channel = channel
        self.template = template
        self.category = category
        self.account = account
        self.language = language
    }
}

/// What a step does.
public enum StepKind: Sendable, Hashable {
    case send(SendStep)
    case wait(Duration)
    case waitUntil(WaitUntil)
    case split(branches: [SplitBranch], otherwise: String?)
    case randomSplit([RandomBranch])
    case updateContact([String: JSONValue])
    case addTag(String)
    case removeTag(String)
    case subscribe(list: String)
    case unsubscribe(list: String)
    case addNote(String)
    case webhook(url: String)
    case startCampaign(String)
    case end

    /// The name used in YAML.
    public var name: String {
        switch self {
        case .send: "send"
        case .wait: "wait"
        case .waitUntil: "wait_until"
        case .split: "split"
        case .randomSplit: "random_split"
        case .updateContact: "update_contact"
        case .addTag: "add_tag"
        case .removeTag: "remove_tag"
        case .subscribe: "subscribe"
        case .unsubscribe: "unsubscribe"
        case .addNote: "add_note"
        case .webhook: "webhook"
        case .startCampaign: "start_campaign"
        case .end: "end"
        }
    }

    /// Every step kind's YAML name.
    public static let names = [
        "send", "wait", "wait_until", "split", "random_split", "update_contact", "add_tag", "remove_tag",
        "subscribe", "unsubscribe", "add_note", "webhook", "start_campaign", "end",
    ]
}

/// A message channel.
public enum Channel: String, Sendable, Hashable, CaseIterable {
    case email, sms, whatsapp, webhook
}

/// "Wait until": the next moment that is at `time` (if given), on one of `days`
/// (if given) and inside `window` (if given), in the contact's time zone.
public struct WaitUntil: Sendable, Hashable {
    /// At this local time.
    public var time: TimeOfDay?
    /// On one of these days.
    public var days: Set<Weekday>?
    /// Inside this local time window.
    public var window: ClosedRange<TimeOfDay>?

    /// A wait with the given constraints (none given: the next moment).
    public init(time: TimeOfDay? = nil, days: Set<Weekday>? = nil, window: ClosedRange<TimeOfDay>? = nil) {
        self.time = time
        self.days = days
        self.window = window
    }

    /// Reads a local time window `HH:MM-HH:MM` (the start before the end); nil otherwise.
    public static func window(_ text: String) -> ClosedRange<TimeOfDay>? {
        let parts = text.split(separator: "-").map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count == 2, let from = TimeOfDay(parts[0]), let to = TimeOfDay(parts[1]), from < to else { return nil }
        return from...to
    }
}

/// One branch of a conditional split; branches are tried in order.
public struct SplitBranch: Sendable, Hashable {
    /// The branch is taken when this holds.
    public var when: Condition
    /// The step the branch leads to.
    public var next: String

    /// Go to `next` when `when` holds.
    public init(when: Condition, next: String) {
        self.when = when
        self.next = next
    }
}

/// One branch of an A/B split.
public struct RandomBranch: Sendable, Hashable {
    /// The share of contacts that take this branch, 1–99 (a split's shares add up to 100).
    public var percent: Int
    /// The step the branch leads to.
    public var next: String

    /// Send `percent` % of contacts to `next`.
    public init(percent: Int, next: String) {
        self.percent = percent
        self.next = next
    }
}

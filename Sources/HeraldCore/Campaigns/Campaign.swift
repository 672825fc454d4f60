/// A triggered campaign: who may enter, what makes them enter or leave, and the
/// graph of steps they walk through (docs/campaigns.md).
public struct Campaign: Sendable, Hashable {
    /// The campaign's id: its file name and the prefix of its journeys' ids.
    public var id: String
    /// The name shown in reports.
    public var name: String
    /// The contact list the campaign runs for.
    public var list: String
    /// IANA time zone used when a contact has none.
    public var timeZone: String
    /// Message categories its sends carry (frequency caps and opt-outs use them).
    public var categories: [String]
    /// How often one contact may enter.
    public var entry: EntryRule
    /// What makes a contact enter; any one is enough.
    public var triggers: [Trigger]
    /// Events that take a contact out at once, even while it waits.
    public var exits: [ExitCondition]
    /// Re-checked at each step; a contact that stops matching leaves.
    public var audience: Condition?
    /// The first step.
    public var start: String
    /// Steps by id, and their order in the file.
    public var steps: [String: Step]
    /// Step ids in the order the file lists them.
    public var stepOrder: [String]
}

/// How often a contact may enter.
public enum EntryRule: String, Sendable, Hashable, CaseIterable {
    /// Once per contact, ever.
    case once
    /// Again only after the previous journey ended.
    case afterExit = "after_exit"
    /// Again at any time, in parallel with journeys still running.
    case parallel
}

/// What makes a contact enter.
public enum Trigger: Sendable, Hashable {
    /// Subscribed to `list` (the campaign's list when nil); imports only when `includeImports`.
    case listSubscribed(list: String?, includeImports: Bool)
    /// Opened an email (of `campaign` and `template`, when given).
    case emailOpened(campaign: String?, template: String?)
    /// Clicked a link in an email (of `campaign` and `template`, when given).
    case emailClicked(campaign: String?, template: String?)
    /// A page whose URL matches one of the patterns (`**` at the end covers sub-pages).
    case pageVisited(urls: [String])
    /// The tag was added to the contact.
    case tagAdded(String)
    /// The tag was removed from the contact.
    case tagRemoved(String)
    /// The month and day of a date attribute (year ignored), at a local time.
    case anniversary(attribute: String, at: TimeOfDay)
    /// The exact date of a date attribute (year included), at a local time.
    case date(attribute: String, at: TimeOfDay)
    /// Every day at a local time, for contacts matching `when`.
    case daily(at: TimeOfDay, when: Condition?)
    /// Any `purchase` event.
    case purchase
    /// Any named event (e.g. `cart_abandoned`), optionally filtered by its properties.
    case event(name: String, when: Condition?)
    /// Entry requested through the API.
    case api

    /// The event type this trigger listens to, if it is event-driven.
    public var eventType: String? {
        switch self {
        case .listSubscribed: "list_subscribed"
        case .emailOpened: "email_opened"
        case .emailClicked: "email_clicked"
        case .pageVisited: "page_visited"
        case .tagAdded: "tag_added"
        case .tagRemoved: "tag_removed"
        case .purchase: "purchase"
        case .event(let name, _): name
        case .api: "campaign_entry_requested"
        case .anniversary, .date, .daily: nil
        }
    }
}

/// An event that takes a contact out of the campaign.
public struct ExitCondition: Sendable, Hashable {
    /// The event type that ends the journey.
    public var event: String
    /// Only when the event (and contact) match this; nil: always.
    public var when: Condition?
}

/// A local time of day, minutes after midnight.
public struct TimeOfDay: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Minutes after local midnight, 0–1439.
    public var minutes: Int

    /// `hour`:`minute` (not checked: `init?(_:)` checks text).
    public init(hour: Int, minute: Int) { minutes = hour * 60 + minute }

    /// Parses `HH:MM` (24-hour).
    public init?(_ text: String) {
        let parts = text.split(separator: ":")
        guard parts.count == 2, parts[0].count == 2, parts[1].count == 2,
            let h = Int(parts[0]), let m = Int(parts[1]), (0...23).contains(h), (0...59).contains(m)
        else { return nil }
        self.init(hour: h, minute: m)
    }

    /// `HH:MM`.
    public var description: String {
        let h = minutes / 60, m = minutes % 60
        return (h < 10 ? "0" : "") + "\(h):" + (m < 10 ? "0" : "") + "\(m)"
    }

    /// Earlier in the day.
    public static func < (a: TimeOfDay, b: TimeOfDay) -> Bool { a.minutes < b.minutes }
}

/// Days of the week, ISO numbering (Monday = 1).
public enum Weekday: Int, Sendable, Hashable, CaseIterable {
    case mon = 1, tue, wed, thu, fri, sat, sun

    /// A day from its English name or three-letter abbreviation, any case.
    public init?(name: String) {
        switch name.lowercased() {
        case "mon", "monday": self = .mon
        case "tue", "tuesday": self = .tue
        case "wed", "wednesday": self = .wed
        case "thu", "thursday": self = .thu
        case "fri", "friday": self = .fri
        case "sat", "saturday": self = .sat
        case "sun", "sunday": self = .sun
        default: return nil
        }
    }
}

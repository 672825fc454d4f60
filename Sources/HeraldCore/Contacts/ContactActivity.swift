/// What a profile remembers of a contact's events, so conditions can ask "did
/// X at least N times in the last 7 days" and "opened an email of campaign C
/// in the last 30 days" (docs/contacts.md, "Activity").
///
/// The profile keeps, per key, the times of the newest `timesCap` events, and
/// at most `keysCap` keys (those with the oldest newest event go first): it is
/// read for nearly every event and message, so it must stay small. A key is
/// the event type, and for opens and clicks also the type with the campaign
/// or the category of the message (`email_opened|campaign:welcome`).
public enum ContactActivity {
    /// Event times kept per key; counts in conditions stay below it, so they are exact.
    public static let timesCap = 20
    /// Keys kept per profile.
    public static let keysCap = 40

    /// Event types recorded whatever campaigns and segments ask: opens and clicks
    /// (few, and the most asked about). Others are recorded while a live campaign
    /// or a saved segment counts them (`recordedTypes`).
    public static let alwaysRecorded: Set<String> = ["email_opened", "email_clicked"]

    /// The event types to record for `conditions` (of live campaigns and saved
    /// segments): `alwaysRecorded` and every type an `events` condition counts.
    public static func recordedTypes(_ conditions: [Condition]) -> Set<String> {
        var types = alwaysRecorded
        func walk(_ c: Condition) {
            switch c {
            case .all(let cs), .any(let cs): cs.forEach(walk)
            case .not(let c): walk(c)
            case .activity(let key, _, _): types.insert(String(key.prefix { $0 != "|" }))
            default: break
            }
        }
        conditions.forEach(walk)
        return types
    }

    /// Events whose effect the profile keeps otherwise (fields, lists, tags,
    /// purchases) or that only start a campaign: not recorded as activity.
    static let notRecorded: Set<String> = [
        "contact_updated", "list_subscribed", "list_unsubscribed", "tag_added", "tag_removed", "purchase", "campaign_entry_requested",
    ]

    /// The tag an event's entries carry beside its time: 1 to 999,999 from its id
    /// (murmur2), so a replay of it matches its entry and another event of the
    /// same millisecond almost never does (1 in a million).
    public static func tag(eventId: String) -> Int64 { Int64(Shard.murmur2(Array(eventId.utf8)) % 999_999) + 1 }

    /// The key of events of `event`, optionally of one campaign or one category.
    public static func key(event: String, campaign: String? = nil, category: String? = nil) -> String {
        if let campaign { return "\(event)|campaign:\(campaign)" }
        if let category { return "\(event)|category:\(category)" }
        return event
    }

    /// The keys an event is recorded under; empty when it is not recorded.
    public static func keys(for event: Event) -> [String] {
        guard !notRecorded.contains(event.type) else { return [] }
        var keys = [event.type]
        if event.type == "email_opened" || event.type == "email_clicked" {
            for (name, value) in [("campaign", event.properties["campaign"]), ("category", event.properties["category"])] {
                if let v = value?.stringValue, !v.isEmpty, v.utf8.count <= 256 {
                    keys.append(name == "campaign" ? key(event: event.type, campaign: v) : key(event: event.type, category: v))
                }
            }
        }
        return keys
    }
}

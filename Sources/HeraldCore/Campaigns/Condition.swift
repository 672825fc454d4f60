/// A condition over a contact, its triggering event and its history (the same
/// criteria as segmentation).
public indirect enum Condition: Sendable, Hashable {
    case all([Condition])
    case any([Condition])
    case not(Condition)
    /// A profile attribute compared with a value.
    case attribute(String, Comparison)
    /// The contact has the tag.
    case hasTag(String)
    /// The contact is subscribed to the list.
    case inList(String)
    /// A property of the triggering event compared with a value.
    case eventProperty(String, Comparison)
    /// How many messages the contact received (optionally of a channel and category)
    /// within a period, compared with a number.
    case messages(channel: Channel?, category: String?, within: Duration?, count: Comparison)
    /// How many purchases the contact made (optionally within a period), compared.
    case purchases(within: Duration?, count: Comparison)
    /// The sum of the amounts of the contact's purchases (optionally within a period), compared.
    case purchaseTotal(within: Duration?, amount: Comparison)
    /// How many events of an activity key (`ContactActivity.key`: an event type,
    /// or an open or click of one campaign or category) the contact had
    /// (optionally within a period), compared.
    case activity(key: String, within: Duration?, count: Comparison)
    /// The contact is in this saved segment. Workers replace it with the
    /// segment's condition (`resolvingSegments`) whenever segments or campaigns
    /// change; left unresolved (no such segment) it holds for nobody.
    case segment(String)
}

extension Condition {
    /// This condition with every `segment` replaced by that segment's condition
    /// (`segments`: id → condition). A segment that names segments is resolved
    /// too, up to a depth of 8, beyond which (a cycle) it holds for nobody.
    public func resolvingSegments(_ segments: [String: Condition], depth: Int = 0) -> Condition {
        switch self {
        case .all(let cs): return .all(cs.map { $0.resolvingSegments(segments, depth: depth) })
        case .any(let cs): return .any(cs.map { $0.resolvingSegments(segments, depth: depth) })
        case .not(let c): return .not(c.resolvingSegments(segments, depth: depth))
        case .segment(let id):
            guard depth < 8, let c = segments[id] else { return self }
            return c.resolvingSegments(segments, depth: depth + 1)
        default: return self
        }
    }
}

extension Campaign {
    /// Every condition the campaign holds: its audience, its triggers' and
    /// exits' `when`, and its split branches.
    public var conditions: [Condition] {
        var out: [Condition] = audience.map { [$0] } ?? []
        for t in triggers {
            switch t {
            case .daily(_, let when?), .event(_, let when?): out.append(when)
            default: break
            }
        }
        out += exits.compactMap(\.when)
        for step in steps.values {
            if case .split(let branches, _) = step.kind { out += branches.map(\.when) }
        }
        return out
    }

    /// The campaign with the segments its audience, exits and splits name
    /// replaced by their conditions.
    public func resolvingSegments(_ segments: [String: Condition]) -> Campaign {
        var c = self
        c.audience = audience?.resolvingSegments(segments)
        c.exits = exits.map {
            var x = $0; x.when = x.when?.resolvingSegments(segments); return x
        }
        for (id, step) in steps {
            if case .split(let branches, let otherwise) = step.kind {
                var s = step
                s.kind = .split(branches: branches.map { SplitBranch(when: $0.when.resolvingSegments(segments), next: $0.next) }, otherwise: otherwise)
                c.steps[id] = s
            }
        }
        return c
    }
}

/// An operator and its operand.
public enum Comparison: Sendable, Hashable {
    case eq(JSONValue)
    case ne(JSONValue)
    case lt(JSONValue)
    case gt(JSONValue)
    case `in`([JSONValue])
    case contains(JSONValue)
    case exists(Bool)
    /// A date (`YYYY-MM-DD` or an RFC 3339 time) in the last period before now.
    case withinLast(Duration)
    /// A date further back than the period before now.
    case olderThan(Duration)
    /// A date whose month and day come within the period from today (a birthday
    /// within 7 days), today being the contact's day in its time zone.
    case anniversaryWithin(Duration)

    /// Every operator's YAML name.
    public static let operators = ["eq", "ne", "lt", "gt", "in", "contains", "exists", "within_last", "older_than", "anniversary_within"]
    /// The operators that compare a date with now (attributes only).
    public static let relativeDateOperators: Set<String> = ["within_last", "older_than", "anniversary_within"]
}

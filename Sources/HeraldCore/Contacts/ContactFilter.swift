/// Which contacts of the address book a listing, count or export selects: an
/// optional list, an optional tag and an optional condition in the campaign
/// language (`docs/campaigns.md`, "Conditions"), all of which must hold. The
/// same evaluator decides a campaign's conditions, so a filter and a campaign
/// never disagree about a contact.
public struct ContactFilter: Sendable, Hashable {
    /// What must hold; nil selects every contact.
    public let condition: Condition?

    /// Every contact.
    public static let everyone = ContactFilter(condition: nil)

    /// A filter of `condition` (nil: everyone).
    public init(condition: Condition?) { self.condition = condition }

    /// The filter of a request's `list`, `tag` and `where` (a condition as YAML or JSON).
    /// - Throws: `ContactFilterError` naming the parameter and what is wrong.
    public init(list: String?, tag: String?, where text: String?) throws(ContactFilterError) {
        var parts: [Condition] = []
        if let list {
            guard !list.isEmpty, list.utf8.count <= 256 else { throw ContactFilterError(parameter: "list", "must be 1 to 256 bytes") }
            parts.append(.inList(list))
        }
        if let tag {
            guard !tag.isEmpty, tag.utf8.count <= 256 else { throw ContactFilterError(parameter: "tag", "must be 1 to 256 bytes") }
            parts.append(.hasTag(tag))
        }
        if let text {
            guard text.utf8.count <= Self.maxConditionBytes else {
                throw ContactFilterError(parameter: "where", "is longer than \(Self.maxConditionBytes) bytes")
            }
            let condition: Condition
            do { condition = try CampaignParser.parseCondition(text, source: "where") } catch {
                throw ContactFilterError(parameter: "where", error.reason)
            }
            if let why = Self.notOnProfiles(condition) { throw ContactFilterError(parameter: "where", why) }
            parts.append(condition)
        }
        self.condition = parts.isEmpty ? nil : parts.count == 1 ? parts[0] : .all(parts)
    }

    /// The longest `where` taken: a filter is a short expression, and the parse
    /// runs on the request's task.
    public static let maxConditionBytes = 16 * 1024

    /// Whether `profile` is selected at `now` (UTC ms; for purchase periods).
    public func matches(_ profile: ContactProfile, now: Int64) -> Bool {
        guard let condition else { return true }
        return ConditionEvaluator.evaluate(condition, contact: profile.snapshot(), event: [:], now: now)
    }

    /// Why `condition` cannot be decided from profiles alone, or nil. An event
    /// property has no event to read here; message history lives with the
    /// journeys, not the profile, and is not read by address-book filters.
    static func notOnProfiles(_ condition: Condition) -> String? {
        switch condition {
        case .all(let cs), .any(let cs): return cs.lazy.compactMap(notOnProfiles).first
        case .not(let c): return notOnProfiles(c)
        case .eventProperty: return "event_property conditions need an event; an address-book filter has none"
        case .messages: return "messages conditions are not available in address-book filters (message history is kept with journeys)"
        case .segment: return "segment conditions are for campaigns; filter by a segment with the segment parameter"
        case .attribute, .hasTag, .inList, .purchases, .purchaseTotal, .activity: return nil
        }
    }
}

/// A filter parameter that cannot be used: which one, and why.
public struct ContactFilterError: Error, Sendable, CustomStringConvertible {
    /// The query parameter (`list`, `tag`, `where`, `cursor`, `limit`).
    public let parameter: String
    /// What is wrong with it.
    public let reason: String

    /// A refusal of `parameter` for `reason`.
    public init(parameter: String, _ reason: String) {
        self.parameter = parameter
        self.reason = reason
    }

    /// `<parameter>: <reason>`.
    public var description: String { "\(parameter): \(reason)" }
}

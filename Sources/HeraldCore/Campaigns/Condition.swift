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

    /// Every operator's YAML name.
    public static let operators = ["eq", "ne", "lt", "gt", "in", "contains", "exists"]
}

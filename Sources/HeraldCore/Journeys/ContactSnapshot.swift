/// What journey evaluation may read about a contact: a value, so evaluation stays
/// pure (the scheduler loads it from Redis).
public struct ContactSnapshot: Sendable, Hashable {
    public var id: String
    public var attributes: [String: JSONValue]
    public var tags: Set<String>
    public var lists: Set<String>
    /// IANA time zone; nil means the campaign's.
    public var timeZone: String?
    /// Messages the contact received, newest last.
    public var messages: [MessageRecord]
    /// Times of the purchases the profile keeps (the newest), UTC milliseconds.
    public var purchases: [Int64]
    /// Purchases older than all of `purchases`, only counted (`ContactProfile.purchaseCap`).
    public var olderPurchases: Int64

    public init(
        id: String, attributes: [String: JSONValue] = [:], tags: Set<String> = [], lists: Set<String> = [], timeZone: String? = nil,
        messages: [MessageRecord] = [],
        purchases: [Int64] = [], olderPurchases: Int64 = 0
    ) {
        self.id = id
        self.attributes = attributes
        self.tags = tags
        self.lists = lists
        self.timeZone = timeZone
        self.messages = messages
        self.purchases = purchases
        self.olderPurchases = olderPurchases
    }
}

/// One message a contact received.
public struct MessageRecord: Sendable, Hashable {
    public var channel: Channel
    public var category: String?
    /// When it was sent, UTC milliseconds.
    public var at: Int64

    public init(channel: Channel, category: String?, at: Int64) {
        self.channel = channel
        self.category = category
        self.at = at
    }
}

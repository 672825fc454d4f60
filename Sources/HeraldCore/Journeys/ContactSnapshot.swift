/// What journey evaluation may read about a contact: a value, so evaluation stays
/// pure (the scheduler loads it from Redis).
public struct ContactSnapshot: Sendable, Hashable {
    /// The contact id.
    public var id: String
    /// Custom attributes, with the profile's email, phone, language and owner among them.
    public var attributes: [String: JSONValue]
    /// The contact's tags.
    public var tags: Set<String>
    /// The lists the contact is subscribed to.
    public var lists: Set<String>
    /// IANA time zone; nil means the campaign's.
    public var timeZone: String?
    /// Messages the contact received, newest last.
    public var messages: [MessageRecord]
    /// Times of the purchases the profile keeps (the newest), UTC milliseconds.
    public var purchases: [Int64]
    /// Purchases older than all of `purchases`, only counted (`ContactProfile.purchaseCap`).
    public var olderPurchases: Int64
    /// The kept purchases that had an amount.
    public var purchaseTotals: [PurchaseTotal]
    /// The sum of the amounts of purchases no longer kept.
    public var olderPurchaseTotal: Double
    /// Event times per activity key, ascending (`ContactActivity`).
    public var activity: [String: [Int64]]

    /// A snapshot of these values (tests build them; the scheduler uses `ContactProfile.snapshot`).
    public init(
        id: String, attributes: [String: JSONValue] = [:], tags: Set<String> = [], lists: Set<String> = [], timeZone: String? = nil,
        messages: [MessageRecord] = [],
        purchases: [Int64] = [], olderPurchases: Int64 = 0, purchaseTotals: [PurchaseTotal] = [], olderPurchaseTotal: Double = 0,
        activity: [String: [Int64]] = [:]
    ) {
        self.id = id
        self.attributes = attributes
        self.tags = tags
        self.lists = lists
        self.timeZone = timeZone
        self.messages = messages
        self.purchases = purchases
        self.olderPurchases = olderPurchases
        self.purchaseTotals = purchaseTotals
        self.olderPurchaseTotal = olderPurchaseTotal
        self.activity = activity
    }
}

/// A purchase's time and amount.
public struct PurchaseTotal: Sendable, Hashable {
    /// When, UTC milliseconds.
    public var at: Int64
    /// How much, as the shop sent it (one currency per shop).
    public var total: Double

    /// A purchase of `total` at `at`.
    public init(at: Int64, total: Double) {
        self.at = at
        self.total = total
    }
}

/// One message a contact received.
public struct MessageRecord: Sendable, Hashable {
    /// The channel it went over.
    public var channel: Channel
    /// Its category (`marketing`, `transactional`, …), if it had one.
    public var category: String?
    /// When it was sent, UTC milliseconds.
    public var at: Int64

    /// A message of `channel` and `category` sent at `at`.
    public init(channel: Channel, category: String?, at: Int64) {
        self.channel = channel
        self.category = category
        self.at = at
    }
}

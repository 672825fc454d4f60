/// A contact's profile as Herald keeps it (in Redis, one JSON document per contact).
public struct ContactProfile: WireDecodable, Hashable {
    /// The contact id (the producer's own, 1–256 bytes): the Kafka key of everything about the contact.
    public var id: String
    /// Typed custom attributes (`birthday`, `gender`, `city`, ...).
    public var attributes: [String: JSONValue] = [:]
    /// The email address messages go to.
    public var email: String?
    /// E.164, e.g. +420601234567.
    public var phone: String?
    /// IANA time zone.
    public var timeZone: String?
    /// The preferred language, as the producer writes it (e.g. `cs`).
    public var language: String?
    /// The contact's main owner (a user of the system; alert recipient).
    public var owner: String?
    /// Tags set on the contact (`tag_added`/`tag_removed`, the contacts API).
    public var tags: Set<String> = []
    /// Lists the contact is subscribed to.
    public var lists: Set<String> = []
    /// Consent by channel or purpose: `email: false` (or `sms`, `whatsapp`…) opts the contact out of that
    /// channel's marketing, `marketing: false` out of all marketing.
    public var consent: [String: JSONValue] = [:]
    /// Notes by id (an event id or a step's idempotency key, so replays add nothing).
    public var notes: [String: JSONValue] = [:]
    /// Purchases: event id → time (UTC ms); keyed by event id so a replay counts once.
    /// The newest `purchaseCap` are kept; older ones are only counted.
    public var purchases: [String: Int64] = [:]
    /// Purchases dropped from `purchases` (the oldest), counted so totals stay true.
    public var olderPurchases: Int64 = 0
    /// Amounts of the kept purchases that had one (`total` or `value`), by purchase id.
    public var purchaseTotals: [String: Double] = [:]
    /// The sum of the amounts of dropped purchases.
    public var olderPurchaseTotal: Double = 0
    /// Times (UTC ms, ascending) of the newest events per activity key (`ContactActivity`).
    public var activity: [String: [Int64]] = [:]
    /// When the profile last changed, UTC ms.
    public var updatedAt: Int64 = 0

    /// How many purchases and notes a profile keeps (the store's script drops the
    /// oldest beyond): a contact's profile is read for nearly every event and
    /// message, so it must not grow with every purchase (docs/contacts.md).
    public static let purchaseCap = 1000
    /// How many notes a profile keeps (see `purchaseCap`).
    public static let noteCap = 200
    /// How many tags, lists and attributes a profile holds at most. Anyone with
    /// an ingest key (which may sit in a shop's page) can send `contact_updated`
    /// events, so without a bound one contact could be grown without end, and
    /// every message and event of it would read the whole profile. Names beyond
    /// the bound are not added (`StoredProfile.apply`); those held stay, and
    /// held attributes can still change.
    public static let tagCap = 1000
    /// How many lists (see `tagCap`).
    public static let listCap = 1000
    /// How many attributes (see `tagCap`).
    public static let attributeCap = 500
    /// The largest stored profile, in bytes: twice the largest event, so any one
    /// event fits, while attribute values sent one event after another cannot
    /// grow a profile without end. A change that would take a profile past it
    /// is not applied (one that leaves it no larger always is).
    public static let maxStoredBytes = 1 << 20

    /// Every purchase ever recorded, kept or dropped.
    public var purchaseCount: Int64 { Int64(purchases.count).addingClamped(olderPurchases) }

    /// An empty profile of contact `id`.
    public init(id: String) { self.id = id }

    /// The API form: tags and lists as sorted arrays, purchases as a count and times.
    public var json: JSONValue {
        var purchaseSummary: [String: JSONValue] = ["count": .int(purchaseCount), "last_at_ms": purchases.values.max().map(JSONValue.int) ?? .null]
        if !purchaseTotals.isEmpty || olderPurchaseTotal != 0 { purchaseSummary["total"] = .double(purchaseTotals.values.reduce(olderPurchaseTotal, +)) }
        var o: [String: JSONValue] = [
            "id": .string(id), "attributes": .object(attributes),
            "tags": .array(tags.sorted().map(JSONValue.string)), "lists": .array(lists.sorted().map(JSONValue.string)),
            "consent": .object(consent), "notes": .object(notes),
            "purchases": .object(purchaseSummary), "updated_at_ms": .int(updatedAt),
        ]
        if !activity.isEmpty {
            o["activity"] = .object(activity.mapValues { ["kept": .int(Int64($0.count)), "last_at_ms": $0.last.map(JSONValue.int) ?? .null] })
        }
        for (k, v) in [("email", email), ("phone", phone), ("timezone", timeZone), ("language", language), ("owner", owner)] {
            if let v { o[k] = .string(v) }
        }
        return .object(o)
    }

    /// Reads the stored form (written by the store's Lua script) from its
    /// bytes member by member, without building the top-level dictionary first:
    /// the sender reads a profile for nearly every message.
    /// - Throws: `JSONParseError` when the bytes are not one JSON object,
    ///   `FieldError` when it has no string `id`.
    public init(decoding bytes: [UInt8]) throws {
        let members = try JSONMembers(Self.storedKeys, of: bytes)
        try self.init(storedMember: { members[$0] })
    }

    /// Reads the stored form from its dictionary: the reference the fuzzer
    /// compares `init(decoding:)` with.
    public init(stored value: JSONValue) throws(FieldError) {
        guard let members = value.objectValue else {
            throw FieldError(field: "", reason: "a stored profile must be a JSON object, got \(value.typeDescription)")
        }
        try self.init(storedMember: { members[$0] })
    }

    /// The members `init(storedMember:)` reads.
    static let storedKeys = [
        "id", "attributes", "email", "phone", "timezone", "language", "owner", "tags", "lists", "consent", "notes", "purchases", "purchases_older",
        "purchase_totals", "purchases_older_total", "activity", "updated_at_ms",
    ]

    /// Reads the stored form's members through `o` (a key's value; nil when
    /// absent). Every key it asks for must be in `storedKeys`.
    init(storedMember o: (String) -> JSONValue?) throws(FieldError) {
        guard let id = o("id")?.stringValue else { throw FieldError(field: "id", reason: "is required and must be a string") }
        var p = ContactProfile(id: id)
        p.attributes = o("attributes")?.objectValue ?? [:]
        p.email = o("email")?.stringValue
        p.phone = o("phone")?.stringValue
        p.timeZone = o("timezone")?.stringValue
        p.language = o("language")?.stringValue
        p.owner = o("owner")?.stringValue
        p.tags = Set(o("tags")?.objectValue?.keys.map { $0 } ?? [])
        p.lists = Set(o("lists")?.objectValue?.keys.map { $0 } ?? [])
        p.consent = o("consent")?.objectValue ?? [:]
        p.notes = o("notes")?.objectValue ?? [:]
        for (k, v) in o("purchases")?.objectValue ?? [:] {
            if let at = Self.wholeMilliseconds(v) { p.purchases[k] = at }
        }
        p.olderPurchases = max(0, Self.wholeMilliseconds(o("purchases_older")) ?? 0)
        for (k, v) in o("purchase_totals")?.objectValue ?? [:] {
            if let amount = ContactInput.amount(v) { p.purchaseTotals[k] = amount }
        }
        p.olderPurchaseTotal = ContactInput.amount(o("purchases_older_total")) ?? 0
        for (k, v) in o("activity")?.objectValue ?? [:] {
            // Entries are `[time, tag]` (a bare time in the first stored form).
            let times = v.arrayValue?.compactMap { Self.wholeMilliseconds($0.arrayValue?.first ?? $0) } ?? []
            if !times.isEmpty { p.activity[k] = times.sorted() }
        }
        p.updatedAt = Self.wholeMilliseconds(o("updated_at_ms")) ?? 0
        self = p
    }

    /// A stored time as whole milliseconds; nil when it is not a number or none
    /// an `Int64` holds (1e300, or 1e400 parsed as infinity). A damaged record is
    /// read without that value: trapping on it would stop every batch holding
    /// the contact, over and over (found by fuzzing `init(decoding:)`).
    static func wholeMilliseconds(_ v: JSONValue?) -> Int64? {
        switch v {
        case .int(let i)?: i
        case .double(let d)?: Int64(exactly: d.rounded(.towardZero))
        default: nil
        }
    }

    /// What journey evaluation reads.
    public func snapshot(messages: [MessageRecord] = []) -> ContactSnapshot {
        var attrs = attributes
        for (k, v) in [("email", email), ("phone", phone), ("language", language), ("owner", owner)] {
            if let v { attrs[k] = .string(v) }
        }
        return ContactSnapshot(
            id: id, attributes: attrs, tags: tags, lists: lists, timeZone: timeZone, messages: messages, purchases: purchases.values.sorted(),
            olderPurchases: olderPurchases,
            purchaseTotals: purchaseTotals.compactMap { id, total in purchases[id].map { PurchaseTotal(at: $0, total: total) } },
            olderPurchaseTotal: olderPurchaseTotal, activity: activity)
    }
}

/// A change to a profile, merged into the stored document by `StoredProfile`.
public struct ContactChange: Sendable, Hashable {
    /// PUT: replace every field given (and clear the others), keeping purchases and notes.
    public var replace = false
    /// Top-level fields: email, phone, timezone, language, owner, consent (null clears).
    public var fields: [String: JSONValue] = [:]
    /// Attributes to set (null removes one).
    public var attributes: [String: JSONValue] = [:]
    /// Tags to add.
    public var addTags: [String] = []
    /// Tags to remove.
    public var removeTags: [String] = []
    /// Lists to subscribe to.
    public var addLists: [String] = []
    /// Lists to unsubscribe from.
    public var removeLists: [String] = []
    /// A purchase to record: its event id (a replay records nothing new) and time, UTC ms.
    public var purchase: (id: String, at: Int64)? {
        get { purchaseId.map { ($0, purchaseAt) } }
        set { purchaseId = newValue?.id; purchaseAt = newValue?.at ?? 0 }
    }
    private var purchaseId: String?
    private var purchaseAt: Int64 = 0
    /// The purchase's amount, when its event had one (`total` or `value`).
    public var purchaseTotal: Double?
    /// An event to record as activity: the keys (`ContactActivity.keys`), its
    /// time (UTC ms) and a tag from its id (`ContactActivity.tag`), so a replay
    /// counts once and two events of one millisecond count twice.
    public var activity: (keys: [String], at: Int64, tag: Int64)? {
        get { activityKeys.isEmpty ? nil : (activityKeys, activityAt, activityTag) }
        set {
            activityKeys = newValue?.keys ?? []
            activityAt = newValue?.at ?? 0
            activityTag = newValue?.tag ?? 0
        }
    }
    private var activityKeys: [String] = []
    private var activityAt: Int64 = 0
    private var activityTag: Int64 = 0
    /// A note to add: its id (a replay adds nothing), text and time, UTC ms.
    public var note: (id: String, text: String, at: Int64)? {
        get { noteId.map { ($0, noteText, noteAt) } }
        set { noteId = newValue?.id; noteText = newValue?.text ?? ""; noteAt = newValue?.at ?? 0 }
    }
    private var noteId: String?
    private var noteText = ""
    private var noteAt: Int64 = 0

    /// A change that changes nothing.
    public init() {}

    /// Whether the change may set or clear the email or phone, so the store
    /// updates the lookups that find a contact by them (imports matching by email or phone).
    public var touchesLookups: Bool { replace || fields["email"] != nil || fields["phone"] != nil }

    /// True when applying the change would change nothing (the store is not called).
    public var isEmpty: Bool {
        !replace && fields.isEmpty && attributes.isEmpty && addTags.isEmpty && removeTags.isEmpty && addLists.isEmpty && removeLists.isEmpty
            && purchaseId == nil && noteId == nil && activityKeys.isEmpty
    }
}

/// A contact's profile in its stored form (the JSON document under
/// `herald:contact:{shard}:<id>`), and the one place a `ContactChange` is
/// merged into it.
///
/// The merge runs in the worker, not in Redis: the store reads the stored
/// bytes, merges here, and writes back only if the bytes are still those it
/// read (`ContactStore.apply`). In a Lua script the merge took Redis's one
/// thread about 20 µs a change on top of the writes, and Redis's cjson kept
/// only 14 digits of a number (docs/contacts.md).
///
/// It works on the whole JSON object, not on `ContactProfile`, so what the
/// typed view leaves out (the tags beside activity times, members a later
/// version adds) is kept as it was.
public struct StoredProfile: Sendable, Hashable {
    /// The stored document's members.
    public private(set) var members: [String: JSONValue]

    /// A new profile of contact `id`.
    public init(id: String) { members = ["id": .string(id)] }

    /// The stored document `bytes` of contact `id`.
    /// - Throws: `FieldError` naming the contact when the bytes are not one JSON object:
    ///   a damaged record is not silently replaced.
    public init(decoding bytes: [UInt8], id: String) throws(FieldError) {
        guard let value = try? JSONValue.parse(bytes), case .object(let members) = value else {
            throw FieldError(field: "profile", reason: "the stored profile of \(id) is not a JSON object")
        }
        self.members = members
    }

    /// The bytes to store.
    public func serialized() -> [UInt8] { JSONValue.object(members).serialized() }

    /// The typed view of this profile.
    public var profile: ContactProfile? { try? ContactProfile(stored: .object(members)) }

    /// The email address, when it is a string (for the lookups).
    public var email: String? { members["email"]?.stringValue }
    /// The phone number, when it is a string (for the lookups).
    public var phone: String? { members["phone"]?.stringValue }

    // MARK: - Merging

    /// Applies `change`, made at `now` (UTC ms), to the profile of `contactId`.
    ///
    /// Sets (tags, lists) are objects `{name: true}`; purchases and notes are
    /// keyed by id, so a replayed event changes nothing; activity entries are
    /// `[time, tag]`, so a replay adds nothing while two events of one
    /// millisecond both count. Purchases, notes and activity are capped
    /// (`ContactProfile.purchaseCap`, `noteCap`, `ContactActivity`).
    public mutating func apply(_ change: ContactChange, contactId: String, now: Int64) {
        var p = members
        if change.replace {
            var kept: [String: JSONValue] = ["id": .string(contactId)]
            for k in ["purchases", "notes", "purchases_older", "purchase_totals", "purchases_older_total", "activity"] { kept[k] = p[k] }
            p = kept
        }
        for f in ["attributes", "tags", "lists", "consent", "notes", "purchases"] where p[f]?.objectValue == nil { p[f] = .object([:]) }
        // JSONValue takes a `nil` literal as `.null`: removals are spelled out.
        for (k, v) in change.fields {
            if v == .null { p.removeValue(forKey: k) } else { p[k] = v }
        }
        if p["consent"]?.objectValue == nil { p["consent"] = .object([:]) }
        // (held ∪ added) − removed, as before the caps: removals first, then the
        // additions not removed, up to the caps (`ContactProfile.tagCap`…) in the
        // change's order (sorted keys for attributes), so a replay adds the same.
        if !change.attributes.isEmpty {
            Self.update(&p, "attributes") { a in
                for (k, v) in change.attributes where v == .null { a.removeValue(forKey: k) }
                for (k, v) in change.attributes.sorted(by: { $0.key < $1.key }) where v != .null {
                    if a[k] != nil || a.count < ContactProfile.attributeCap { a[k] = v }
                }
            }
        }
        if !change.addTags.isEmpty || !change.removeTags.isEmpty {
            Self.update(&p, "tags") { t in
                let removed = Set(change.removeTags)
                for tag in removed { t.removeValue(forKey: tag) }
                for tag in change.addTags where !removed.contains(tag) && t.count < ContactProfile.tagCap { t[tag] = true }
            }
        }
        if !change.addLists.isEmpty || !change.removeLists.isEmpty {
            Self.update(&p, "lists") { l in
                let removed = Set(change.removeLists)
                for list in removed { l.removeValue(forKey: list) }
                for list in change.addLists where !removed.contains(list) && l.count < ContactProfile.listCap { l[list] = true }
            }
        }
        if let purchase = change.purchase { Self.addPurchase(&p, id: purchase.id, at: purchase.at, total: change.purchaseTotal) }
        if let activity = change.activity { Self.addActivity(&p, keys: activity.keys, at: activity.at, tag: activity.tag) }
        if let note = change.note {
            Self.update(&p, "notes") { n in
                n[note.id] = ["text": .string(note.text), "at": .int(note.at)]
                _ = Self.dropOldest(&n, cap: ContactProfile.noteCap) { Self.number($0.objectValue?["at"]) }
            }
        }
        p["updated_at_ms"] = .int(now)
        // The key is the contact's, so is the id: a damaged one would make the profile unreadable.
        p["id"] = .string(contactId)
        members = p
    }

    /// Changes the object member `key` of `p` in place (it is an object: `apply` made it one).
    private static func update(_ p: inout [String: JSONValue], _ key: String, _ body: (inout [String: JSONValue]) -> Void) {
        var o = p[key]?.objectValue ?? [:]
        p.removeValue(forKey: key)  // so `o` is the only reference and is changed without a copy
        body(&o)
        p[key] = .object(o)
    }

    /// Records a purchase; beyond the cap the oldest are dropped and counted,
    /// and their amounts summed, so totals stay true.
    private static func addPurchase(_ p: inout [String: JSONValue], id: String, at: Int64, total: Double?) {
        var purchases = p["purchases"]?.objectValue ?? [:]
        purchases[id] = .int(at)
        // Amounts live beside the times (only for purchases that had one), so
        // profiles without amounts keep their old form.
        var totals = p["purchase_totals"]?.objectValue
        if let total {
            if totals == nil { totals = [:] }
            totals?[id] = .double(total)
        }
        let dropped = dropOldest(&purchases, cap: ContactProfile.purchaseCap) { number($0) }
        if dropped > 0 {
            p["purchases_older"] = .int(Int64(number(p["purchases_older"])).addingClamped(Int64(dropped)))
            if var t = totals {
                let gone = t.filter { purchases[$0.key] == nil }
                if !gone.isEmpty {
                    p["purchases_older_total"] = .double(gone.values.reduce(number(p["purchases_older_total"])) { $0 + number($1) })
                    for id in gone.keys { t.removeValue(forKey: id) }
                    totals = t
                }
            }
        }
        p["purchases"] = .object(purchases)
        if let totals { p["purchase_totals"] = .object(totals) }
    }

    /// Records an event as activity: per key the newest `ContactActivity.timesCap`
    /// entries `[time, tag]`, ascending; beyond `keysCap` keys, the key whose
    /// newest event is oldest goes. A bare number is an entry of tag 0 (the
    /// first stored form).
    private static func addActivity(_ p: inout [String: JSONValue], keys: [String], at: Int64, tag: Int64) {
        var activity = p["activity"]?.objectValue ?? [:]
        var added = false
        for k in keys {
            var times: [JSONValue]
            if let existing = activity[k]?.arrayValue {
                times = existing
            } else {
                times = []
                added = true
            }
            // Walk back from the newest to where the event belongs (most events
            // are the newest), unless it is there already.
            var i = times.count
            while i > 0 {
                let (a, t) = entry(times[i - 1])
                if a < at || (a == at && t <= tag) { break }
                i -= 1
            }
            let present = i > 0 && entry(times[i - 1]) == (at, tag)
            if !present {
                times.insert([.int(at), .int(tag)], at: i)
                if times.count > ContactActivity.timesCap { times.removeFirst(times.count - ContactActivity.timesCap) }
                activity[k] = .array(times)
            }
        }
        if added && activity.count > ContactActivity.keysCap {
            let newest = activity.map { k, v in (k, v.arrayValue?.last.map { entry($0).0 } ?? 0) }
            let oldestFirst = newest.sorted { $0.1 != $1.1 ? $0.1 < $1.1 : $0.0 < $1.0 }
            for (k, _) in oldestFirst.prefix(activity.count - ContactActivity.keysCap) { activity.removeValue(forKey: k) }
        }
        p["activity"] = .object(activity)
    }

    /// An activity entry's time and tag (0 for what is not a whole number).
    private static func entry(_ e: JSONValue) -> (Int64, Int64) {
        func whole(_ v: JSONValue?) -> Int64 { ContactProfile.wholeMilliseconds(v) ?? 0 }
        if let pair = e.arrayValue { return (whole(pair.first), whole(pair.count > 1 ? pair[1] : nil)) }
        return (whole(e), 0)
    }

    /// Keeps the newest `cap` entries of a table keyed by id (the oldest by
    /// `time`, then by id, go first); returns how many were dropped.
    private static func dropOldest(_ t: inout [String: JSONValue], cap: Int, time: (JSONValue) -> Double) -> Int {
        guard t.count > cap else { return 0 }
        let oldestFirst = t.map { ($0.key, time($0.value)) }.sorted { $0.1 != $1.1 ? $0.1 < $1.1 : $0.0 < $1.0 }
        let n = t.count - cap
        for (id, _) in oldestFirst.prefix(n) { t.removeValue(forKey: id) }
        return n
    }

    /// A stored number, or 0 when the value is none.
    private static func number(_ v: JSONValue?) -> Double {
        switch v {
        case .int(let i)?: Double(i)
        case .double(let d)? where d.isFinite: d
        default: 0
        }
    }

    // MARK: - Indexes

    /// What the shard's indexes hold of this profile: its lists, and the day
    /// (`YYYY-MM-DD`) of each attribute whose value starts with one.
    public var indexEntries: (days: [String: String], lists: Set<String>) {
        var days: [String: String] = [:]
        for (k, v) in members["attributes"]?.objectValue ?? [:] {
            if let s = v.stringValue, let d = Self.day(s) { days[k] = d }
        }
        return (days, Set((members["lists"]?.objectValue ?? [:]).keys))
    }

    /// The `YYYY-MM-DD` a value starts with, or nil.
    static func day(_ s: String) -> String? {
        let b = Array(s.utf8.prefix(10))
        guard b.count == 10, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-") else { return nil }
        for i in [0, 1, 2, 3, 5, 6, 8, 9] where !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b[i]) { return nil }
        return String(decoding: b, as: UTF8.self)
    }
}

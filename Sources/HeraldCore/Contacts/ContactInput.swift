import Foundation

/// Turns API bodies and events into `ContactChange`s, refusing bad values with
/// the field named.
public enum ContactInput {
    static let topLevel: Set<String> = ["attributes", "email", "phone", "timezone", "language", "owner", "tags", "lists", "consent"]

    /// A `PUT` (replace = true) or `PATCH` body.
    /// - Throws: `EventValidationError` naming the field.
    public static func change(fromBody body: JSONValue, replace: Bool) throws(EventValidationError) -> ContactChange {
        guard let o = body.objectValue else { throw EventValidationError(field: "", reason: "the body must be a JSON object") }
        var change = ContactChange()
        change.replace = replace
        for key in o.keys.sorted() where !topLevel.contains(key) {
            throw EventValidationError(field: key, reason: "unknown field (allowed: \(topLevel.sorted().joined(separator: ", ")))")
        }
        for field in ["email", "phone", "timezone", "language", "owner"] {
            guard let v = o[field] else { continue }
            if v == .null { change.fields[field] = .null; continue }
            guard let s = v.stringValue else { throw EventValidationError(field: field, reason: "must be a string or null, got \(v.typeDescription)") }
            switch field {
            case "email":
                guard isEmail(s) else { throw EventValidationError(field: field, reason: "'\(s)' is not an email address") }
            case "phone":
                guard isE164(s) else { throw EventValidationError(field: field, reason: "'\(s)' is not an E.164 phone number (e.g. +420601234567)") }
            case "timezone":
                guard TimeZone(identifier: s) != nil else {
                    throw EventValidationError(field: field, reason: "'\(s)' is not an IANA time zone (e.g. Europe/Prague)")
                }
            default:
                guard !s.isEmpty, s.utf8.count <= 256 else { throw EventValidationError(field: field, reason: "must be 1 to 256 bytes") }
            }
            change.fields[field] = .string(s)
        }
        if let c = o["consent"] {
            guard c.objectValue != nil || c == .null else { throw EventValidationError(field: "consent", reason: "must be an object") }
            change.fields["consent"] = c
        }
        if let a = o["attributes"] {
            guard let attrs = a.objectValue else { throw EventValidationError(field: "attributes", reason: "must be an object") }
            guard attrs.count <= ContactProfile.attributeCap else {
                throw EventValidationError(field: "attributes", reason: "at most \(ContactProfile.attributeCap) attributes, got \(attrs.count)")
            }
            for key in attrs.keys.sorted() where key.isEmpty || key.utf8.count > maxNameBytes {
                throw EventValidationError(field: "attributes", reason: "an attribute's name must be 1 to \(maxNameBytes) bytes")
            }
            change.attributes = attrs
        }
        if let t = o["tags"] { change.addTags = try names(t, field: "tags", cap: ContactProfile.tagCap) }
        if let l = o["lists"] { change.addLists = try names(l, field: "lists", cap: ContactProfile.listCap) }
        return change
    }

    /// The longest tag, list or attribute name, in UTF-8 bytes.
    public static let maxNameBytes = 256

    /// Tag or list names: at most `cap` (a profile holds no more), each 1 to
    /// `maxNameBytes` bytes without control characters.
    static func names(_ v: JSONValue, field: String, cap: Int) throws(EventValidationError) -> [String] {
        let out = try strings(v, field: field)
        guard out.count <= cap else { throw EventValidationError(field: field, reason: "at most \(cap) names, got \(out.count)") }
        for name in out where !isName(name) {
            let shown = name.count > 40 ? name.prefix(40) + "…" : name
            throw EventValidationError(field: field, reason: "'\(shown)' is not a name: 1 to \(maxNameBytes) bytes, no control characters")
        }
        return out
    }

    /// A tag, list or attribute name: 1 to `maxNameBytes` bytes, no control characters.
    public static func isName(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.count <= maxNameBytes && !s.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F })
    }

    /// The profile change an event implies, or nil when it implies none.
    ///
    /// `contact_updated` (properties as a PATCH body, but for `source`), `list_subscribed` /
    /// `list_unsubscribed` (`list`), `tag_added` / `tag_removed` (`tag`), `purchase`
    /// (recorded once per event id). An event whose properties are unusable changes nothing.
    public static func change(for event: Event) -> ContactChange? {
        var change = ContactChange()
        switch event.type {
        case "contact_updated":
            // `source` names who made the change (`import`), as on membership events; it is not a field.
            var body = event.properties
            body["source"] = nil
            guard let c = try? Self.change(fromBody: .object(body), replace: false) else { return nil }
            change = c
        case "list_subscribed", "list_unsubscribed":
            guard let list = event.properties["list"]?.stringValue, isName(list) else { return nil }
            if event.type == "list_subscribed" { change.addLists = [list] } else { change.removeLists = [list] }
        case "tag_added", "tag_removed":
            guard let tag = event.properties["tag"]?.stringValue, isName(tag) else { return nil }
            if event.type == "tag_added" { change.addTags = [tag] } else { change.removeTags = [tag] }
        case "purchase":
            change.purchase = (event.id, event.timestamp)
            change.purchaseTotal = amount(event.properties["total"]) ?? amount(event.properties["value"])
        default:
            let keys = ContactActivity.keys(for: event)
            guard !keys.isEmpty else { return nil }
            change.activity = (keys, event.timestamp, ContactActivity.tag(eventId: event.id))
        }
        return change.isEmpty ? nil : change
    }

    /// A purchase amount: a finite JSON number of at most 1e15 in size; nil
    /// for anything else (a string, a huge number), which is then not summed.
    public static func amount(_ v: JSONValue?) -> Double? {
        let d: Double
        switch v {
        case .int(let i)?: d = Double(i)
        case .double(let x)?: d = x
        default: return nil
        }
        return d.isFinite && abs(d) <= 1e15 ? d : nil
    }

    static func strings(_ v: JSONValue, field: String) throws(EventValidationError) -> [String] {
        guard case .array(let items) = v else { throw EventValidationError(field: field, reason: "must be an array of strings") }
        var out: [String] = []
        for item in items {
            guard let s = item.stringValue, !s.isEmpty else { throw EventValidationError(field: field, reason: "must contain only non-empty strings") }
            out.append(s)
        }
        return out
    }

    /// local@domain.tld without spaces, control characters or line breaks.
    /// The sender's rule (`EmailAddress.isValid`): one definition of a valid address.
    public static func isEmail(_ s: String) -> Bool { EmailAddress.isValid(s) }

    /// + then 8 to 15 digits, the first not 0.
    public static func isE164(_ s: String) -> Bool {
        let b = Array(s.utf8)
        guard b.count >= 9, b.count <= 16, b[0] == UInt8(ascii: "+"), b[1] != UInt8(ascii: "0") else { return false }
        return b.dropFirst().allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
    }
}

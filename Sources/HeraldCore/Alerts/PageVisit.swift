/// A page view whose time on the page is not known yet: it waits (in Redis, with
/// a deadline) for the contact's next view, a `page_left`, or the session timeout.
public struct PageVisit: WireRecord, Equatable {
    /// The `page_visited` event's id (alerts about this visit are keyed by it).
    public var eventId: String
    /// The page's URL as the event gave it.
    public var url: String
    /// When the page was viewed (the event's timestamp, UTC ms).
    public var at: Int64
    /// The event's session id, if it had one; a view in another session does not end this one.
    public var session: String?
    /// When Herald accepted the event (UTC ms).
    public var acceptedAt: Int64
    /// Rules waiting on this visit → the time on the page each needs (ms).
    public var waiting: [String: Int64]

    /// A view waiting for the rules in `waiting` to learn its time on the page.
    public init(eventId: String, url: String, at: Int64, session: String?, acceptedAt: Int64, waiting: [String: Int64]) {
        self.eventId = eventId
        self.url = url
        self.at = at
        self.session = session
        self.acceptedAt = acceptedAt
        self.waiting = waiting
    }

    /// The stored form as a dictionary: the reference `encoded()` must equal.
    public var json: JSONValue {
        var o: [String: JSONValue] = [
            "event_id": .string(eventId), "url": .string(url), "at": .int(at), "accepted_at": .int(acceptedAt),
            "waiting": .object(waiting.mapValues { .int($0) }),
        ]
        if let session { o["session"] = .string(session) }
        return .object(o)
    }

    /// The bytes of `json.serialized()`, written field by field: a waiting visit
    /// is stored for half of all page views.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(96 + url.utf8.count + eventId.utf8.count + waiting.count * 24)
        out.append(contentsOf: #"{"accepted_at":"#.utf8)
        out.append(contentsOf: String(acceptedAt).utf8)
        out.append(contentsOf: #","at":"#.utf8)
        out.append(contentsOf: String(at).utf8)
        out.append(contentsOf: #","event_id":"#.utf8)
        JSONValue.writeString(eventId, to: &out)
        if let session {
            out.append(contentsOf: #","session":"#.utf8)
            JSONValue.writeString(session, to: &out)
        }
        out.append(contentsOf: #","url":"#.utf8)
        JSONValue.writeString(url, to: &out)
        out.append(contentsOf: #","waiting":{"#.utf8)
        for (i, (rule, minimum)) in waiting.sorted(by: { $0.key < $1.key }).enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            JSONValue.writeString(rule, to: &out)
            out.append(UInt8(ascii: ":"))
            out.append(contentsOf: String(minimum).utf8)
        }
        out.append(contentsOf: "}}".utf8)
        return out
    }

    /// Reads what `encoded()` (or `json`) wrote.
    /// - Throws: `JSONParseError`, or `FieldError` naming a missing field.
    public init(decoding bytes: [UInt8]) throws { try self.init(decoding: bytes[...]) }

    /// `init(decoding:)` on part of a buffer: the store keeps a visit behind a
    /// prefix and reads one for every page event, so it is not copied out first.
    public init(decoding bytes: ArraySlice<UInt8>) throws {
        var eventId: String?, url: String?, at: Int64?, acceptedAt: Int64?, session: String?
        var waiting: [String: Int64] = [:]
        try bytes.withUnsafeBufferPointer { buffer throws(JSONParseError) in
            var parser = JSONParser(bytes: buffer)
            try parser.parseObjectMembers { key, parser throws(JSONParseError) in
                switch key {
                case "event_id": eventId = try parser.parseValue().stringValue
                case "url": url = try parser.parseValue().stringValue
                case "session": session = try parser.parseValue().stringValue
                case "at": if case .int(let v) = try parser.parseValue() { at = v }
                case "accepted_at": if case .int(let v) = try parser.parseValue() { acceptedAt = v }
                case "waiting":
                    for (k, v) in try parser.parseValue().objectValue ?? [:] { if case .int(let t) = v { waiting[k] = t } }
                default: try parser.skipValue()
                }
            }
        }
        guard let eventId else { throw FieldError(field: "event_id", reason: "is required and must be a string") }
        guard let url else { throw FieldError(field: "url", reason: "is required and must be a string") }
        guard let at else { throw FieldError(field: "at", reason: "is required and must be an integer") }
        self.init(eventId: eventId, url: url, at: at, session: session, acceptedAt: acceptedAt ?? at, waiting: waiting)
    }

    /// What ended the visit.
    public enum End: Sendable, Equatable {
        /// The contact's next page view.
        case nextView(at: Int64, session: String?)
        /// A `page_left` for this page.
        case left(at: Int64)
        /// No next view or leave within the session timeout.
        case timeout
    }

    /// The time on the page, as the seed defines it: from this view to the next
    /// view (or a leave). A visit that ends by timeout, by a new session, or after
    /// longer than the session timeout was closed without a known time: nothing
    /// reaches its minimum.
    /// - Returns: the rules whose minimum was reached, and those it was not.
    public func decide(_ end: End, sessionTimeoutMs: Int64) -> (reached: [String], tooShort: [String], dwellMs: Int64?) {
        var dwell: Int64?
        switch end {
        case .nextView(let t, let nextSession):
            let sameSession = session == nil || nextSession == nil || session == nextSession
            if sameSession { dwell = t.subtractingClamped(at) }
        case .left(let t):
            dwell = t.subtractingClamped(at)
        case .timeout:
            dwell = nil
        }
        if let d = dwell, d < 0 || d > sessionTimeoutMs { dwell = nil }
        var reached: [String] = []
        var tooShort: [String] = []
        for (rule, minimum) in waiting.sorted(by: { $0.key < $1.key }) {
            if let d = dwell, d >= minimum { reached.append(rule) } else { tooShort.append(rule) }
        }
        return (reached, tooShort, dwell)
    }
}

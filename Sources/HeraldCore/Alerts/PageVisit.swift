/// A page view whose time on the page is not known yet: it waits (in Redis, with
/// a deadline) for the contact's next view, a `page_left`, or the session timeout.
public struct PageVisit: Sendable, Equatable {
    /// The `page_visited` event's id (alerts about this visit are keyed by it).
    public var eventId: String
    public var url: String
    /// When the page was viewed (the event's timestamp, UTC ms).
    public var at: Int64
    public var session: String?
    /// When Herald accepted the event (UTC ms).
    public var acceptedAt: Int64
    /// Rules waiting on this visit → the time on the page each needs (ms).
    public var waiting: [String: Int64]

    public init(eventId: String, url: String, at: Int64, session: String?, acceptedAt: Int64, waiting: [String: Int64]) {
        self.eventId = eventId
        self.url = url
        self.at = at
        self.session = session
        self.acceptedAt = acceptedAt
        self.waiting = waiting
    }

    public var json: JSONValue {
        var o: [String: JSONValue] = [
            "event_id": .string(eventId), "url": .string(url), "at": .int(at), "accepted_at": .int(acceptedAt),
            "waiting": .object(waiting.mapValues { .int($0) }),
        ]
        if let session { o["session"] = .string(session) }
        return .object(o)
    }

    public init?(json: JSONValue) {
        guard let id = json["event_id"]?.stringValue, let url = json["url"]?.stringValue, case .int(let at)? = json["at"] else { return nil }
        eventId = id
        self.url = url
        self.at = at
        session = json["session"]?.stringValue
        if case .int(let a)? = json["accepted_at"] { acceptedAt = a } else { acceptedAt = at }
        var waiting: [String: Int64] = [:]
        for (k, v) in json["waiting"]?.objectValue ?? [:] { if case .int(let t) = v { waiting[k] = t } }
        self.waiting = waiting
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
            if sameSession { dwell = t - at }
        case .left(let t):
            dwell = t - at
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

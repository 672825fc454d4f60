/// A one-shot campaign (seed 001's WhatsApp campaigns, seed 002's mass mailing):
/// one template over one channel to the recipients picked from the address
/// book, each recipient one message whose state is kept like any other
/// (`MessageState`). docs/broadcasts.md describes the flow.
public struct Broadcast: Sendable, Equatable {
    /// Its id: 1 to 64 of a-z, 0-9, `_` and `-` (`AccountName`'s alphabet, so it
    /// can be part of a key, a send id and a metric label).
    public var id: String
    /// What people see.
    public var name: String
    /// Free text for the team.
    public var note: String
    /// `email`, `sms` or `whatsapp`.
    public var channel: Channel
    /// The template's name (config/templates/<channel>/…).
    public var template: String
    /// The WhatsApp number to send from ("" : the default one).
    public var account: String
    /// The WhatsApp template's language ("" : the template's configured one).
    public var language: String = ""
    /// What fills the WhatsApp template's variables, in order (empty: the
    /// template's configured mapping, or a CSV recipient's columns).
    public var variables: [TemplateVariable] = []
    /// `marketing` or `utility`: what consent, caps and suppression apply
    /// (`SendRequest.isMarketing`).
    public var category: Category
    /// Who it goes to, as first picked (more may be added later).
    public var audience: Audience
    /// When it starts by itself (UTC ms); nil: when started.
    public var startAt: Int64?
    /// The local hours messages may go out in (`09:00-20:00`), in each
    /// recipient's time zone ("" : any time); outside them, a message waits for the next.
    public var window: String = ""
    /// The time zone `window` is read in for a recipient without one ("" : UTC).
    public var timeZone: String = ""
    /// An email broadcast's From (nil: `sender.email_from`); at that address's domain.
    public var from: EmailAddress?
    /// The profile field that holds the number (`attributes.mobile`; "" : `phone`), for WhatsApp and SMS.
    public var phoneField: String = ""
    /// Paused by itself when more than this percentage of the messages that ended
    /// since its start (or last resume) failed (`error`, `sending_failed`), once
    /// at least `autoPauseSample` ended; 100: never.
    public var pauseOnErrorRate = 20

    /// Messages that must have ended before the error rate counts.
    public static let autoPauseSample = 50

    /// What consent and caps see.
    public enum Category: String, Sendable, CaseIterable {
        /// Subject to marketing opt-outs and the daily marketing cap.
        case marketing
        /// Meta's utility category (order updates and the like): no marketing
        /// opt-out or cap applies, as for a journey's transactional message.
        case utility
    }

    /// The recipients a broadcast picks from the address book.
    public enum Audience: Sendable, Equatable {
        /// The members of a saved segment, as it reads when the recipients are added.
        case segment(String)
        /// Contacts matching `list`, `tag` and `where` (`ContactFilter`'s parameters).
        case filter(list: String?, tag: String?, where: String?)

        /// The filter it stands for; a segment's is resolved by the caller.
        public func filter() throws(ContactFilterError) -> ContactFilter? {
            switch self {
            case .segment: return nil
            case .filter(let list, let tag, let text): return try ContactFilter(list: list, tag: tag, where: text)
            }
        }

        /// The API form.
        public var json: JSONValue {
            switch self {
            case .segment(let id): return ["segment": .string(id)]
            case .filter(let list, let tag, let text):
                var o: [String: JSONValue] = [:]
                if let list { o["list"] = .string(list) }
                if let tag { o["tag"] = .string(tag) }
                if let text { o["where"] = .string(text) }
                return .object(o)
            }
        }

        /// Reads `{"segment": id}` or `{"list", "tag", "where"}` (any of the three; none: everyone).
        public init(json: JSONValue) throws(BroadcastError) {
            guard let o = json.objectValue else { throw BroadcastError(field: "audience", "must be an object: {segment} or {list, tag, where}") }
            if let unknown = o.keys.sorted().first(where: { !["segment", "list", "tag", "where"].contains($0) }) {
                throw BroadcastError(field: "audience.\(unknown)", "is not an audience field (segment, list, tag, where)")
            }
            if let segment = o["segment"] {
                guard o.count == 1 else { throw BroadcastError(field: "audience.segment", "cannot be combined with list, tag or where") }
                guard let id = segment.stringValue, AccountName.isValid(id) else {
                    throw BroadcastError(field: "audience.segment", "must be a segment id (1 to 64 of a-z, 0-9, '_' and '-')")
                }
                self = .segment(id)
                return
            }
            func text(_ key: String) throws(BroadcastError) -> String? {
                switch o[key] {
                case nil, .null?: return nil
                case .string(let s)?: return s
                case let v? where key == "where" && v.objectValue != nil: return String(decoding: v.serialized(), as: UTF8.self)
                default: throw BroadcastError(field: "audience.\(key)", "must be a string")
                }
            }
            let filter = Audience.filter(list: try text("list"), tag: try text("tag"), where: try text("where"))
            do { _ = try filter.filter() } catch { throw BroadcastError(field: "audience.\(error.parameter)", error.reason) }
            self = filter
        }
    }

    /// The campaign id its messages carry (`SendRequest.campaignId`), so message
    /// counts, queries and the sender's checks tell broadcasts from journeys.
    public var campaignId: String { Self.campaignPrefix + id }

    /// `broadcast:` — what a broadcast's campaign id starts with.
    public static let campaignPrefix = "broadcast:"

    /// The send id of the message to `contactId`: one per recipient and broadcast,
    /// so adding a recipient twice, replaying or resuming never makes a second message.
    public func sendId(_ contactId: String) -> String { "bc:\(id):\(contactId)" }

    /// The message to `contactId`, as the sender reads it.
    public func request(for contactId: String, now: Int64) -> SendRequest {
        var r = SendRequest(
            id: sendId(contactId), contactId: contactId, campaignId: campaignId, stepId: "broadcast", channel: channel, template: template,
            category: category == .utility ? "transactional" : "marketing", createdAtMs: now)
        r.account = account
        r.language = language
        r.variables = variables
        r.window = window
        r.timeZone = timeZone
        r.phoneField = phoneField
        r.from = from
        return r
    }

    /// The fields `init(json:)` takes.
    public static let fields: Set<String> = [
        "id", "name", "note", "channel", "template", "account", "language", "variables", "category", "audience", "start_at", "window", "time_zone",
        "pause_on_error_rate", "phone_field", "from", "from_name",
    ]

    /// Longest `name`, and `note`, in bytes.
    public static let maxNameBytes = 256, maxNoteBytes = 4_096

    /// Reads the API's JSON form, checking every field; `now` bounds `start_at`
    /// (at most a year ahead; a time in the past starts at once).
    public init(json: JSONValue, now: Int64) throws(BroadcastError) {
        guard let o = json.objectValue else { throw BroadcastError(field: "", "the body must be a JSON object") }
        if let unknown = o.keys.sorted().first(where: { !Self.fields.contains($0) }) { throw BroadcastError(field: unknown, "is not a broadcast field") }
        func string(_ key: String) throws(BroadcastError) -> String? {
            switch o[key] {
            case nil, .null?: return nil
            case .string(let s)?: return s
            default: throw BroadcastError(field: key, "must be a string")
            }
        }
        guard let id = try string("id"), AccountName.isValid(id) else {
            throw BroadcastError(field: "id", "is required: 1 to 64 of a-z, 0-9, '_' and '-', starting with a letter or digit")
        }
        self.id = id
        name = try string("name") ?? id
        guard (1...Self.maxNameBytes).contains(name.utf8.count), !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw BroadcastError(field: "name", "must be 1 to \(Self.maxNameBytes) bytes without control characters")
        }
        note = try string("note") ?? ""
        guard note.utf8.count <= Self.maxNoteBytes else { throw BroadcastError(field: "note", "is longer than \(Self.maxNoteBytes) bytes") }
        guard let c = try string("channel").flatMap(Channel.init(rawValue:)), c != .webhook else {
            throw BroadcastError(field: "channel", "must be email, sms or whatsapp")
        }
        channel = c
        guard let t = try string("template"), AccountName.isValid(t) else {
            throw BroadcastError(field: "template", "is required: a template name (1 to 64 of a-z, 0-9, '_' and '-')")
        }
        template = t
        account = try string("account") ?? ""
        if !account.isEmpty {
            guard channel == .whatsapp else { throw BroadcastError(field: "account", "is only for whatsapp broadcasts") }
            guard AccountName.isValid(account) else { throw BroadcastError(field: "account", AccountName.rule) }
        }
        language = try string("language") ?? ""
        if !language.isEmpty {
            guard channel == .whatsapp else {
                throw BroadcastError(field: "language", "is only for whatsapp broadcasts (email and SMS templates are per language)")
            }
            guard TemplateLanguage.isValid(language) else { throw BroadcastError(field: "language", TemplateLanguage.rule) }
        }
        if let v = o["variables"], v != .null {
            guard channel == .whatsapp else {
                throw BroadcastError(field: "variables", "are only for whatsapp broadcasts (email and SMS templates name their fields)")
            }
            do { variables = try TemplateVariable.list(v) } catch { throw BroadcastError(field: "variables\(error.entry)", error.reason) }
        }
        let categoryText = try string("category") ?? Category.marketing.rawValue
        guard let category = Category(rawValue: categoryText) else { throw BroadcastError(field: "category", "must be marketing or utility") }
        self.category = category
        guard let audience = o["audience"] else { throw BroadcastError(field: "audience", "is required: {segment} or {list, tag, where}") }
        self.audience = try Audience(json: audience)
        window = try string("window") ?? ""
        guard window.isEmpty || WaitUntil.window(window) != nil else {
            throw BroadcastError(field: "window", "must be HH:MM-HH:MM in the recipient's time zone, the start before the end (09:00-20:00)")
        }
        timeZone = try string("time_zone") ?? ""
        guard timeZone.isEmpty || TimeZones.isKnown(timeZone) else { throw BroadcastError(field: "time_zone", "must be an IANA time zone (Europe/Prague)") }
        if let address = try string("from") {
            guard channel == .email else { throw BroadcastError(field: "from", "is for email broadcasts") }
            let name = try string("from_name")
            do throws(EmailMessageError) { from = try EmailAddress(address, name: name) } catch { throw BroadcastError(field: "from", "\(error)") }
        } else if o["from_name"] != nil {
            throw BroadcastError(field: "from_name", "needs from")
        }
        phoneField = try string("phone_field") ?? ""
        if !phoneField.isEmpty {
            guard channel != .email else { throw BroadcastError(field: "phone_field", "is for whatsapp and sms broadcasts") }
            guard PhoneField.isValid(phoneField) else { throw BroadcastError(field: "phone_field", PhoneField.rule) }
        }
        switch o["pause_on_error_rate"] {
        case nil, .null?: break
        case .int(let n)? where (1...100).contains(n): pauseOnErrorRate = Int(n)
        default: throw BroadcastError(field: "pause_on_error_rate", "must be a whole percentage from 1 to 100 (100: never pause)")
        }
        if let text = try string("start_at") {
            guard let at = RFC3339.parseMilliseconds(text) else { throw BroadcastError(field: "start_at", "must be an RFC 3339 time") }
            guard at <= now.addingClamped(Self.maxLeadMs) else { throw BroadcastError(field: "start_at", "is more than a year ahead") }
            startAt = at
        } else {
            startAt = nil
        }
    }

    /// How far ahead `start_at` may be.
    public static let maxLeadMs: Int64 = 366 * 86_400_000

    /// The stored and API form (what `init(json:)` reads back).
    public var json: JSONValue {
        var o: [String: JSONValue] = [
            "id": .string(id), "name": .string(name), "note": .string(note), "channel": .string(channel.rawValue), "template": .string(template),
            "category": .string(category.rawValue), "audience": audience.json,
        ]
        if !account.isEmpty { o["account"] = .string(account) }
        if !language.isEmpty { o["language"] = .string(language) }
        if !variables.isEmpty { o["variables"] = .array(variables.map(\.json)) }
        o["pause_on_error_rate"] = .int(Int64(pauseOnErrorRate))
        if !window.isEmpty { o["window"] = .string(window) }
        if !timeZone.isEmpty { o["time_zone"] = .string(timeZone) }
        if !phoneField.isEmpty { o["phone_field"] = .string(phoneField) }
        if let from {
            o["from"] = .string(from.address)
            if let name = from.name { o["from_name"] = .string(name) }
        }
        if let startAt { o["start_at"] = .string(RFC3339.format(milliseconds: startAt)) }
        return .object(o)
    }
}

/// A broadcast's field that is wrong, and why.
public struct BroadcastError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The field (`audience.where`); "" for the body as a whole.
    public let field: String
    /// What is wrong with it.
    public let reason: String

    /// `field` refused for `reason`.
    public init(field: String, _ reason: String) {
        self.field = field
        self.reason = reason
    }

    /// `<field> <reason>`.
    public var description: String { field.isEmpty ? reason : "\(field) \(reason)" }
}

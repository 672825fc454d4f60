/// One message the scheduler asks the sender for: a record of `herald.sends`,
/// keyed by contact id. `id` is the idempotency key (`<instance>:<step>:<visit>`):
/// the sender calls a provider at most once per id.
public struct SendRequest: WireRecord, Equatable, CustomStringConvertible {
    /// The fields, in one shared box written copy-on-write: the sender passes
    /// every request through several lists per wave, and copying the struct
    /// retained and released each of its strings every time (about 3 % of the
    /// sender's CPU). A copy now retains the box alone.
    private final class Storage: @unchecked Sendable {  // mutated only while uniquely referenced
        var fields: Fields
        init(_ fields: Fields) { self.fields = fields }
    }

    private struct Fields: Equatable {
        var id: String = ""
        var contactId: String = ""
        var campaignId: String = ""
        var version: Int = 1
        var instanceId: String = ""
        var stepId: String = ""
        var channel: Channel = .email
        var template: String = ""
        var category: String? = nil
        var isTest: Bool = false
        var createdAtMs: Int64 = 0
        var event: [String: JSONValue] = [:]
        var to: String? = nil
        var content: PreparedEmail? = nil
        var originMs: Int64 = 0
        var account: String = ""
        var language: String = ""
        var variables: [TemplateVariable] = []
        var window: String = ""
        var timeZone: String = ""
        var phoneField: String = ""
        var from: EmailAddress? = nil
    }

    private var storage: Storage

    /// The fields for writing: the box is copied first unless this request is its only owner.
    private var writable: Storage {
        mutating get {
            if !isKnownUniquelyReferenced(&storage) { storage = Storage(storage.fields) }
            return storage
        }
    }

    /// The idempotency key, `<instance>:<step>:<visit>`: one provider call at most per id.
    public var id: String {
        get { storage.fields.id }
        set { writable.fields.id = newValue }
    }
    /// The recipient contact; the record's Kafka key.
    public var contactId: String {
        get { storage.fields.contactId }
        set { writable.fields.contactId = newValue }
    }
    /// The campaign whose step asked for the message (`alert:<rule>` for sales alerts).
    public var campaignId: String {
        get { storage.fields.campaignId }
        set { writable.fields.campaignId = newValue }
    }
    /// The campaign version the journey runs.
    public var version: Int {
        get { storage.fields.version }
        set { writable.fields.version = newValue }
    }
    /// The journey instance that reached the step ("" when none did).
    public var instanceId: String {
        get { storage.fields.instanceId }
        set { writable.fields.instanceId = newValue }
    }
    /// The send step's id within the campaign.
    public var stepId: String {
        get { storage.fields.stepId }
        set { writable.fields.stepId = newValue }
    }
    /// `email`, `sms`, `whatsapp` or `webhook`.
    public var channel: Channel {
        get { storage.fields.channel }
        set { writable.fields.channel = newValue }
    }
    /// Template name (for `webhook`: the URL).
    public var template: String {
        get { storage.fields.template }
        set { writable.fields.template = newValue }
    }
    /// `marketing`, `transactional` or a campaign's own category; caps and opt-outs use it (see `isMarketing`).
    public var category: String? {
        get { storage.fields.category }
        set { writable.fields.category = newValue }
    }
    /// A test journey's message (`POST /v1/campaigns/{id}/test`): reported apart from real ones.
    public var isTest: Bool {
        get { storage.fields.isTest }
        set { writable.fields.isTest = newValue }
    }
    /// When the scheduler made the request, UTC ms.
    public var createdAtMs: Int64 {
        get { storage.fields.createdAtMs }
        set { writable.fields.createdAtMs = newValue }
    }
    /// Properties of the event that started the journey (templates may use them).
    public var event: [String: JSONValue] {
        get { storage.fields.event }
        set { writable.fields.event = newValue }
    }
    /// An internal notification (a sales alert) goes to this address, not to the
    /// contact; it is never marketing (no opt-out, no unsubscribe link, no tracking).
    public var to: String? {
        get { storage.fields.to }
        set { writable.fields.to = newValue }
    }
    /// Transactional messages and internal notifications (`to` set: an alert to a
    /// colleague) ignore marketing opt-outs and caps; everything else is marketing.
    public var isMarketing: Bool { to == nil && category != "transactional" }
    /// Content ready to send instead of a template (the alerter renders alerts itself).
    public var content: PreparedEmail? {
        get { storage.fields.content }
        set { writable.fields.content = newValue }
    }
    /// When what the message reports happened (an alert's page view accepted, or
    /// its time on the page decided), UTC ms; the sender measures its hand-off
    /// latency from here. 0: not measured.
    public var originMs: Int64 {
        get { storage.fields.originMs }
        set { writable.fields.originMs = newValue }
    }

    /// The account to send from (a WhatsApp number's name); "" for the channel's
    /// default account. Written only when set, so records of before it read the same.
    public var account: String {
        get { storage.fields.account }
        set { writable.fields.account = newValue }
    }

    /// The template's language to send in ("" : the template's configured one).
    /// Written only when set.
    public var language: String {
        get { storage.fields.language }
        set { writable.fields.language = newValue }
    }

    /// What fills the template's variables, in order (empty: the template's
    /// configured mapping): a broadcast's own. Written only when set.
    public var variables: [TemplateVariable] {
        get { storage.fields.variables }
        set { writable.fields.variables = newValue }
    }

    /// A local time window (`HH:MM-HH:MM`) the message may go out in, in the
    /// contact's time zone ("" : any time): a broadcast's send window. Written only when set.
    public var window: String {
        get { storage.fields.window }
        set { writable.fields.window = newValue }
    }

    /// The time zone `window` is read in for a contact without one ("" : UTC).
    public var timeZone: String {
        get { storage.fields.timeZone }
        set { writable.fields.timeZone = newValue }
    }

    /// Where the contact's phone is for this message (`attributes.mobile`; ""
    /// : the profile's `phone`): a broadcast's choice. Written only when set.
    public var phoneField: String {
        get { storage.fields.phoneField }
        set { writable.fields.phoneField = newValue }
    }

    /// The email's From, instead of the configured one (a broadcast's); the
    /// sender sends it only at the configured From's domain. Written only when set.
    public var from: EmailAddress? {
        get { storage.fields.from }
        set { writable.fields.from = newValue }
    }

    /// Equal when every field is equal (the same box, or equal boxes).
    public static func == (a: SendRequest, b: SendRequest) -> Bool {
        a.storage === b.storage || a.storage.fields == b.storage.fields
    }

    /// Every field, as the struct printed them before it had a box (test failures, logs).
    public var description: String { "SendRequest" + String(describing: storage.fields).drop { $0 != "(" } }

    /// A request with these fields; `event`, `to`, `content` and `originMs` are set afterwards.
    public init(
        id: String, contactId: String, campaignId: String, version: Int = 1, instanceId: String = "", stepId: String = "",
        channel: Channel, template: String, category: String? = nil, isTest: Bool = false, createdAtMs: Int64 = 0
    ) {
        storage = Storage(Fields())
        self.id = id
        self.contactId = contactId
        self.campaignId = campaignId
        self.version = version
        self.instanceId = instanceId
        self.stepId = stepId
        self.channel = channel
        self.template = template
        self.category = category
        self.isTest = isTest
        self.createdAtMs = createdAtMs
    }

    /// Reads a `herald.sends` record from its dictionary: the reference reader
    /// `init(decoding:)` must agree with (the fuzzer compares them).
    /// - Throws: `SendRequestError` naming the missing or mistyped field.
    public init(json: JSONValue) throws(SendRequestError) {
        guard case .object(let members) = json else { throw SendRequestError(field: "", "a send request must be a JSON object") }
        try self.init(member: { members[$0] })
    }

    /// Reads a `herald.sends` record from its bytes field by field: the same
    /// request, and the same errors, as `init(json: JSONValue.parse(bytes))`,
    /// without building the record's dictionary first. The sender decodes every
    /// record; the dictionary's hashing was most of that (docs/benchmarks.md).
    /// - Throws: `JSONParseError` for text that is not JSON, `SendRequestError`
    ///   naming the missing or mistyped field.
    public init(decoding bytes: [UInt8]) throws {
        // Not an object: the dictionary's path says what is wrong, as it always did.
        let first = bytes.first { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }  // past JSON's whitespace
        guard first == UInt8(ascii: "{") else {
            self = try SendRequest(json: JSONValue.parse(bytes))
            return
        }
        let members = try JSONMembers(Self.memberKeys, of: bytes)
        try self.init(member: { members[$0] })
    }

    /// The record's bytes on `herald.sends`: the sorted JSON of `json`.
    public func encoded() -> [UInt8] { json.serialized() }

    /// The members `init(member:)` reads.
    static let memberKeys = [
        "id", "contact_id", "campaign_id", "channel", "template", "version", "instance_id", "step_id", "category", "test", "created_at_ms",
        "event", "to", "content", "origin_ms", "account", "language", "variables", "window", "time_zone", "phone_field", "from",
    ]

    /// Reads the request's members through `o` (a key's value; nil when absent).
    /// Every key it asks for must be in `memberKeys`.
    init(member o: (String) -> JSONValue?) throws(SendRequestError) {
        storage = Storage(Fields())
        func string(_ k: String) throws(SendRequestError) -> String {
            guard let s = o(k)?.stringValue, !s.isEmpty else { throw SendRequestError(field: k, "must be a non-empty string") }
            return s
        }
        id = try string("id")
        contactId = try string("contact_id")
        campaignId = try string("campaign_id")
        guard let channel = Channel(rawValue: try string("channel")) else {
            throw SendRequestError(field: "channel", "must be one of \(Channel.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        self.channel = channel
        template = try string("template")
        if case .int(let v)? = o("version") { version = Int(v) } else { version = 1 }
        instanceId = o("instance_id")?.stringValue ?? ""
        stepId = o("step_id")?.stringValue ?? ""
        category = o("category")?.stringValue
        isTest = o("test") == .bool(true)
        if case .int(let t)? = o("created_at_ms") { createdAtMs = t } else { createdAtMs = 0 }
        event = o("event")?.objectValue ?? [:]
        to = o("to")?.stringValue
        if let c = o("content"), c != .null {
            guard let prepared = PreparedEmail(json: c) else {
                throw SendRequestError(field: "content", "must have subject and text strings, optional html and attachments")
            }
            content = prepared
        }
        if case .int(let t)? = o("origin_ms"), t > 0 { originMs = t }  // written only when set
        if let a = o("account"), a != .null {
            // The sender names the account in file paths' stead and in metric labels: checked here, at the one reader.
            guard let name = a.stringValue, AccountName.isValid(name) else { throw SendRequestError(field: "account", AccountName.rule) }
            account = name
        }
        if let l = o("language"), l != .null {
            guard let text = l.stringValue, TemplateLanguage.isValid(text) else { throw SendRequestError(field: "language", TemplateLanguage.rule) }
            language = text
        }
        if let w = o("window"), w != .null {
            guard let text = w.stringValue, WaitUntil.window(text) != nil else {
                throw SendRequestError(field: "window", "must be HH:MM-HH:MM, the start before the end")
            }
            window = text
        }
        if let z = o("time_zone"), z != .null {
            guard let name = z.stringValue, TimeZones.isKnown(name) else {
                throw SendRequestError(field: "time_zone", "must be an IANA time zone (Europe/Prague)")
            }
            timeZone = name
        }
        if let f = o("phone_field"), f != .null {
            guard let text = f.stringValue, PhoneField.isValid(text) else { throw SendRequestError(field: "phone_field", PhoneField.rule) }
            phoneField = text
        }
        if let f = o("from"), f != .null {
            guard let address = f["address"]?.stringValue, let from = try? EmailAddress(address, name: f["name"]?.stringValue) else {
                throw SendRequestError(field: "from", "must be {address, name?} with a valid address and no line break in the name")
            }
            self.from = from
        }
        if let v = o("variables"), v != .null {
            do { variables = try TemplateVariable.list(v) } catch { throw SendRequestError(field: "variables\(error.entry)", error.reason) }
        }
    }

    /// The record as a dictionary (what `encoded()` writes).
    public var json: JSONValue {
        var o: [String: JSONValue] = [
            "id": .string(id), "contact_id": .string(contactId), "campaign_id": .string(campaignId), "version": .int(Int64(version)),
            "instance_id": .string(instanceId), "step_id": .string(stepId), "channel": .string(channel.rawValue), "template": .string(template),
            "category": category.map(JSONValue.string) ?? .null, "test": .bool(isTest), "created_at_ms": .int(createdAtMs),
            "event": .object(event),
        ]
        if let to { o["to"] = .string(to) }
        if let content { o["content"] = content.json }
        if originMs > 0 { o["origin_ms"] = .int(originMs) }
        if !account.isEmpty { o["account"] = .string(account) }
        if !language.isEmpty { o["language"] = .string(language) }
        if !variables.isEmpty { o["variables"] = .array(variables.map(\.json)) }
        if !window.isEmpty { o["window"] = .string(window) }
        if !timeZone.isEmpty { o["time_zone"] = .string(timeZone) }
        if !phoneField.isEmpty { o["phone_field"] = .string(phoneField) }
        if let from { o["from"] = from.name.map { ["address": .string(from.address), "name": .string($0)] } ?? ["address": .string(from.address)] }
        return .object(o)
    }
}

/// Why a `herald.sends` record was refused: the field and the reason.
public struct SendRequestError: Error, Sendable, CustomStringConvertible {
    /// The failing field ("" when the record as a whole is wrong).
    public let field: String
    /// What is wrong with the field.
    public let reason: String
    /// A refusal of `field` for `reason`.
    public init(field: String, _ reason: String) {
        self.field = field
        self.reason = reason
    }
    /// `field '<field>' <reason>`, or the reason alone for the whole record.
    public var description: String { field.isEmpty ? reason : "field '\(field)' \(reason)" }
}

/// An email already rendered: subject, text, optional HTML and attachments.
public struct PreparedEmail: Sendable, Equatable {
    /// The subject line.
    public var subject: String
    /// The plain-text body.
    public var text: String
    /// The HTML body, if any.
    public var html: String?
    /// Files attached (an alert's CSV of the visit, for one).
    public var attachments: [EmailAttachment]

    /// An email rendered by its producer.
    public init(subject: String, text: String, html: String? = nil, attachments: [EmailAttachment] = []) {
        self.subject = subject
        self.text = text
        self.html = html
        self.attachments = attachments
    }

    /// The dictionary form carried in a send request's `content`.
    public var json: JSONValue {
        var o: [String: JSONValue] = ["subject": .string(subject), "text": .string(text)]
        if let html { o["html"] = .string(html) }
        if !attachments.isEmpty {
            o["attachments"] = .array(
                attachments.map { ["filename": .string($0.filename), "content_type": .string($0.contentType), "content": .string($0.content)] })
        }
        return .object(o)
    }

    /// Reads `json`'s form; nil without string `subject` and `text`, or with an attachment lacking a field.
    public init?(json: JSONValue) {
        guard let subject = json["subject"]?.stringValue, let text = json["text"]?.stringValue else { return nil }
        self.subject = subject
        self.text = text
        html = json["html"]?.stringValue
        var attachments: [EmailAttachment] = []
        for a in json["attachments"]?.arrayValue ?? [] {
            guard let f = a["filename"]?.stringValue, let t = a["content_type"]?.stringValue, let c = a["content"]?.stringValue else { return nil }
            attachments.append(EmailAttachment(filename: f, contentType: t, content: c))
        }
        self.attachments = attachments
    }
}

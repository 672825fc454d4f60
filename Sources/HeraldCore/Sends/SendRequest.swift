/// One message the scheduler asks the sender for: a record of `herald.sends`,
/// keyed by contact id. `id` is the idempotency key (`<instance>:<step>:<visit>`):
/// the sender calls a provider at most once per id.
public struct SendRequest: Sendable, Equatable {
    public var id: String
    public var contactId: String
    public var campaignId: String
    public var version: Int
    public var instanceId: String
    public var stepId: String
    /// `email`, `sms`, `whatsapp` or `webhook`.
    public var channel: String
    /// Template name (for `webhook`: the URL).
    public var template: String
    public var category: String?
    public var isTest: Bool
    public var createdAtMs: Int64
    /// Properties of the event that started the journey (templates may use them).
    public var event: [String: JSONValue] = [:]

    public init(
        id: String, contactId: String, campaignId: String, version: Int = 1, instanceId: String = "", stepId: String = "",
        channel: String, template: String, category: String? = nil, isTest: Bool = false, createdAtMs: Int64 = 0
    ) {
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

    /// Reads a `herald.sends` record.
    /// - Throws: `SendRequestError` naming the missing or mistyped field.
    public init(json: JSONValue) throws(SendRequestError) {
        guard case .object(let o) = json else { throw SendRequestError(field: "", "a send request must be a JSON object") }
        func string(_ k: String) throws(SendRequestError) -> String {
            guard let s = o[k]?.stringValue, !s.isEmpty else { throw SendRequestError(field: k, "must be a non-empty string") }
            return s
        }
        id = try string("id")
        contactId = try string("contact_id")
        campaignId = try string("campaign_id")
        channel = try string("channel")
        template = try string("template")
        if case .int(let v)? = o["version"] { version = Int(v) } else { version = 1 }
        instanceId = o["instance_id"]?.stringValue ?? ""
        stepId = o["step_id"]?.stringValue ?? ""
        category = o["category"]?.stringValue
        isTest = o["test"] == .bool(true)
        if case .int(let t)? = o["created_at_ms"] { createdAtMs = t } else { createdAtMs = 0 }
        event = o["event"]?.objectValue ?? [:]
    }

    public var json: JSONValue {
        [
            "id": .string(id), "contact_id": .string(contactId), "campaign_id": .string(campaignId), "version": .int(Int64(version)),
            "instance_id": .string(instanceId), "step_id": .string(stepId), "channel": .string(channel), "template": .string(template),
            "category": category.map(JSONValue.string) ?? .null, "test": .bool(isTest), "created_at_ms": .int(createdAtMs),
            "event": .object(event),
        ]
    }
}

public struct SendRequestError: Error, Sendable, CustomStringConvertible {
    /// The failing field ("" when the record as a whole is wrong).
    public let field: String
    public let reason: String
    public init(field: String, _ reason: String) {
        self.field = field
        self.reason = reason
    }
    public var description: String { field.isEmpty ? reason : "field '\(field)' \(reason)" }
}

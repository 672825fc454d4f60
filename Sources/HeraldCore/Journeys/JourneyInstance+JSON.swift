/// The stored form of a journey instance (a field of the contact's journeys hash
/// in Redis).
extension JourneyInstance: WireRecord {
    /// The stored form as a dictionary (what `encoded()` writes).
    public var json: JSONValue {
        var status: [String: JSONValue]
        switch self.status {
        case .running: status = ["kind": "running"]
        case .waiting(let until): status = ["kind": "waiting", "until": .int(until)]
        case .completed(let at): status = ["kind": "completed", "at": .int(at)]
        case .exited(let reason, let at): status = ["kind": "exited", "reason": .string(reason.rawValue), "at": .int(at)]
        }
        return .object([
            "id": .string(id), "campaign": .string(campaignId), "version": .int(Int64(version)), "contact": .string(contactId),
            "event": .object(triggerEvent), "status": .object(status), "step": .string(stepId), "seq": .int(Int64(sequence)),
            "visits": .object(visits.mapValues { .int(Int64($0)) }), "test": .bool(isTest), "entered": .int(enteredAt),
        ])
    }

    /// The stored bytes: the sorted JSON of `json`. Instances are written once
    /// per step, far less often than events, so no field-by-field writer.
    public func encoded() -> [UInt8] { json.serialized() }

    /// Reads the stored form.
    /// - Throws: `JSONParseError` when the bytes are not JSON, `FieldError`
    ///   naming the first required field that is missing or mistyped.
    public init(decoding bytes: [UInt8]) throws {
        let json = try JSONValue.parse(bytes)
        guard let o = json.objectValue else { throw FieldError(field: "", reason: "a journey instance must be a JSON object, got \(json.typeDescription)") }
        func required<T>(_ value: T?, _ field: String) throws(FieldError) -> T {
            guard let value else { throw FieldError(field: field, reason: "is required") }
            return value
        }
        func int(_ v: JSONValue?) -> Int64? { if case .int(let i)? = v { i } else { nil } }
        let id = try required(o["id"]?.stringValue, "id"), campaign = try required(o["campaign"]?.stringValue, "campaign")
        let version = try required(int(o["version"]), "version"), contact = try required(o["contact"]?.stringValue, "contact")
        let step = try required(o["step"]?.stringValue, "step"), entered = try required(int(o["entered"]), "entered")
        let status = try required(o["status"]?.objectValue, "status"), kind = try required(status["kind"]?.stringValue, "status.kind")
        self.init(
            id: id, campaignId: campaign, version: Int(version), contactId: contact, triggerEvent: o["event"]?.objectValue ?? [:], stepId: step,
            enteredAt: entered, isTest: o["test"] == .bool(true))
        func time(_ k: String) -> Int64 { int(status[k]) ?? 0 }
        switch kind {
        case "waiting": self.status = .waiting(until: time("until"))
        case "completed": self.status = .completed(at: time("at"))
        case "exited": self.status = .exited(reason: ExitReason(rawValue: status["reason"]?.stringValue ?? "") ?? .stopped, at: time("at"))
        default: self.status = .running
        }
        if case .int(let s)? = o["seq"] { sequence = Int(s) }
        for (k, v) in o["visits"]?.objectValue ?? [:] { if case .int(let n) = v { visits[k] = Int(n) } }
    }
}

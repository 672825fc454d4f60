/// The stored form of a journey instance (Redis) and of journey commands (Kafka).
extension JourneyInstance {
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

    /// Reads the stored form; nil when it is not one.
    public init?(json: JSONValue) {
        guard let o = json.objectValue, let id = o["id"]?.stringValue, let campaign = o["campaign"]?.stringValue,
            case .int(let version)? = o["version"], let contact = o["contact"]?.stringValue, let step = o["step"]?.stringValue,
            case .int(let entered)? = o["entered"], let status = o["status"]?.objectValue, let kind = status["kind"]?.stringValue
        else { return nil }
        self.init(id: id, campaignId: campaign, version: Int(version), contactId: contact, triggerEvent: o["event"]?.objectValue ?? [:], stepId: step, enteredAt: entered, isTest: o["test"] == .bool(true))
        func int(_ k: String) -> Int64 { if case .int(let v)? = status[k] { v } else { 0 } }
        switch kind {
        case "waiting": self.status = .waiting(until: int("until"))
        case "completed": self.status = .completed(at: int("at"))
        case "exited": self.status = .exited(reason: ExitReason(rawValue: status["reason"]?.stringValue ?? "") ?? .stopped, at: int("at"))
        default: self.status = .running
        }
        if case .int(let s)? = o["seq"] { sequence = Int(s) }
        for (k, v) in o["visits"]?.objectValue ?? [:] { if case .int(let n) = v { visits[k] = Int(n) } }
    }
}

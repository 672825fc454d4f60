/// A record of `herald.journeys`, keyed by contact id.
public enum JourneyCommand: Sendable, Hashable {
    /// An event a live campaign listens to: may start journeys or end them.
    case event(Event)
    /// Put a contact into a campaign (start-another-campaign steps, API and test entries).
    case enter(campaignId: String, contactId: String, id: String, isTest: Bool)

    public var contactId: String {
        switch self {
        case .event(let e): e.contactId
        case .enter(_, let contact, _, _): contact
        }
    }

    public var json: JSONValue {
        switch self {
        case .event(let e): ["kind": "event", "event": e.json]
        case .enter(let c, let contact, let id, let test): ["kind": "enter", "campaign": .string(c), "contact_id": .string(contact), "id": .string(id), "test": .bool(test)]
        }
    }

    /// Reads a command; nil for anything else (the scheduler logs and skips it).
    public init?(bytes: [UInt8]) {
        guard let v = try? JSONValue.parse(bytes), let kind = v["kind"]?.stringValue else { return nil }
        switch kind {
        case "event":
            guard let e = v["event"].flatMap({ try? Event.decodeCanonical($0.serialized()) }) else { return nil }
            self = .event(e)
        case "enter":
            guard let c = v["campaign"]?.stringValue, let contact = v["contact_id"]?.stringValue, let id = v["id"]?.stringValue else { return nil }
            self = .enter(campaignId: c, contactId: contact, id: id, isTest: v["test"] == .bool(true))
        default:
            return nil
        }
    }
}

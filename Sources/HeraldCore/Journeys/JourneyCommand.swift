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

    /// The record's bytes: the sorted JSON of `json`.
    public func serialized() -> [UInt8] {
        switch self {
        case .event(let e): Self.serialized(canonicalEvent: e.serialized())
        case .enter: json.serialized()
        }
    }

    /// The record of `.event` for an event already in its canonical form (as read
    /// off `herald.events`): wrapped as it is, not decoded and written again.
    public static func serialized(canonicalEvent: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(canonicalEvent.count + 26)
        out.append(contentsOf: #"{"event":"#.utf8)
        out.append(contentsOf: canonicalEvent)
        out.append(contentsOf: #","kind":"event"}"#.utf8)
        return out
    }

    /// Reads a command; nil for anything else (the scheduler logs and skips it).
    public init?(bytes: [UInt8]) {
        var kind: String?, event = Event.CanonicalFields(), hasEvent = false
        var campaign: String?, contact: String?, id: String?, test = false
        let read: Void? = try? bytes.withUnsafeBufferPointer { buffer throws(JSONParseError) in
            var parser = JSONParser(bytes: buffer)
            try parser.parseObjectMembers { key, parser throws(JSONParseError) in
                switch key {
                case "kind": kind = try parser.parseValue().stringValue
                case "event": try event.read(&parser); hasEvent = true
                case "campaign": campaign = try parser.parseValue().stringValue
                case "contact_id": contact = try parser.parseValue().stringValue
                case "id": id = try parser.parseValue().stringValue
                case "test": test = try parser.parseValue() == .bool(true)
                default: try parser.skipValue()
                }
            }
        }
        guard read != nil else { return nil }
        switch kind {
        case "event":
            guard hasEvent, let e = try? event.event() else { return nil }
            self = .event(e)
        case "enter":
            guard let campaign, let contact, let id else { return nil }
            self = .enter(campaignId: campaign, contactId: contact, id: id, isTest: test)
        default:
            return nil
        }
    }
}

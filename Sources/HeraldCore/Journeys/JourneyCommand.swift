/// A record of `herald.journeys`, keyed by contact id.
public enum JourneyCommand: WireRecord, Hashable {
    /// An event a live campaign listens to: may start journeys or end them.
    case event(Event)
    /// Put a contact into a campaign (start-another-campaign steps, API and test entries).
    case enter(campaignId: String, contactId: String, id: String, isTest: Bool)

    /// The contact the command is for: the record's Kafka key.
    public var contactId: String {
        switch self {
        case .event(let e): e.contactId
        case .enter(_, let contact, _, _): contact
        }
    }

    /// The record as a dictionary; `.enter` is written from it.
    public var json: JSONValue {
        switch self {
        case .event(let e): ["kind": "event", "event": e.json]
        case .enter(let c, let contact, let id, let test):
            ["kind": "enter", "campaign": .string(c), "contact_id": .string(contact), "id": .string(id), "test": .bool(test)]
        }
    }

    /// The record's bytes: the sorted JSON of `json`.
    public func encoded() -> [UInt8] {
        switch self {
        case .event(let e): Self.encoded(canonicalEvent: e.encoded())
        case .enter: json.serialized()
        }
    }

    /// The record of `.event` for an event already in its canonical form (as read
    /// off `herald.events`): wrapped as it is, not decoded and written again.
    public static func encoded(canonicalEvent: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(canonicalEvent.count + 26)
        out.append(contentsOf: #"{"event":"#.utf8)
        out.append(contentsOf: canonicalEvent)
        out.append(contentsOf: #","kind":"event"}"#.utf8)
        return out
    }

    /// Reads a command.
    /// - Throws: `JSONParseError` when the bytes are not a JSON object,
    ///   `FieldError` naming what a command of its kind lacks (the scheduler
    ///   dead-letters it).
    public init(decoding bytes: [UInt8]) throws {
        var kind: String?, event = Event.CanonicalFields(), hasEvent = false
        var campaign: String?, contact: String?, id: String?, test = false
        try bytes.withUnsafeBufferPointer { buffer throws(JSONParseError) in
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
        switch kind {
        case "event":
            guard hasEvent else { throw FieldError(field: "event", reason: "is required for kind 'event'") }
            self = .event(try event.event())
        case "enter":
            guard let campaign, let contact, let id else {
                throw FieldError(
                    field: campaign == nil ? "campaign" : contact == nil ? "contact_id" : "id", reason: "is required for kind 'enter' and must be a string")
            }
            self = .enter(campaignId: campaign, contactId: contact, id: id, isTest: test)
        default:
            throw FieldError(field: "kind", reason: "must be 'event' or 'enter'")
        }
    }
}

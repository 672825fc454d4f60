/// A validated customer event: what `herald.events` carries.
///
/// Times are UTC milliseconds (DESIGN.md, principle 5).
public struct Event: WireRecord, Hashable {
    /// The producer's idempotency key: the same id within the dedupe window is one event.
    public var id: String
    /// What happened: `purchase`, `page_visited`, `cart_abandoned`, ...
    public var type: String
    /// The contact the event belongs to; the Kafka key.
    public var contactId: String
    /// When it happened (the producer's clock), UTC milliseconds.
    public var timestamp: Int64
    /// When Herald received it, UTC milliseconds.
    public var receivedAt: Int64
    /// Free-form properties of the event.
    public var properties: [String: JSONValue]

    /// An event with every field given (no checks: `EventValidator` checks producer input).
    public init(id: String, type: String, contactId: String, timestamp: Int64, receivedAt: Int64, properties: [String: JSONValue] = [:]) {
        self.id = id
        self.type = type
        self.contactId = contactId
        self.timestamp = timestamp
        self.receivedAt = receivedAt
        self.properties = properties
    }

    /// The canonical form as a dictionary: the reference `encoded()` must equal
    /// byte for byte (tests and the fuzzer compare them).
    public var json: JSONValue {
        .object([
            "id": .string(id),
            "type": .string(type),
            "contact_id": .string(contactId),
            "timestamp": .string(RFC3339.format(milliseconds: timestamp)),
            "timestamp_ms": .int(timestamp),
            "received_at_ms": .int(receivedAt),
            "properties": .object(properties),
        ])
    }

    /// The canonical JSON bytes written to `herald.events`: the bytes of
    /// `json.serialized()` (keys sorted), written field by field because every
    /// event is serialised once on intake and again by every load generator.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(160 + id.utf8.count + contactId.utf8.count)
        out.append(contentsOf: #"{"contact_id":"#.utf8)
        JSONValue.writeString(contactId, to: &out)
        out.append(contentsOf: #","id":"#.utf8)
        JSONValue.writeString(id, to: &out)
        out.append(contentsOf: #","properties":"#.utf8)
        JSONValue.object(properties).write(to: &out)
        out.append(contentsOf: #","received_at_ms":"#.utf8)
        out.append(contentsOf: String(receivedAt).utf8)
        out.append(contentsOf: #","timestamp":""#.utf8)
        out.append(contentsOf: RFC3339.format(milliseconds: timestamp).utf8)
        out.append(contentsOf: #"","timestamp_ms":"#.utf8)
        out.append(contentsOf: String(timestamp).utf8)
        out.append(contentsOf: #","type":"#.utf8)
        JSONValue.writeString(type, to: &out)
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// Reads an event back from its canonical form on `herald.events`.
    /// - Throws: `JSONParseError` when it is not one JSON object,
    ///   `EventValidationError` naming a missing or mistyped field.
    public init(decoding bytes: [UInt8]) throws {
        var fields = CanonicalFields()
        try bytes.withUnsafeBufferPointer { buffer throws(JSONParseError) in
            var parser = JSONParser(bytes: buffer)
            try parser.parseWholeDocument { parser throws(JSONParseError) in try fields.read(&parser) }
        }
        self = try fields.event()
    }

    /// The canonical form read field by field rather than through a `JSONValue`
    /// dictionary: every consumer of `herald.events` decodes every event, and the
    /// top-level dictionary (and the RFC 3339 copy of the time, which
    /// `timestamp_ms` already says) was most of the cost.
    struct CanonicalFields {
        var id: String?, type: String?, contactId: String?, timestamp: Int64?, receivedAt: Int64?
        var properties: [String: JSONValue] = [:]

        /// Reads the event object at the parser's position.
        mutating func read(_ parser: inout JSONParser) throws(JSONParseError) {
            try parser.parseMembers { key, parser throws(JSONParseError) in
                switch key {
                case "id": id = try parser.parseValue().stringValue
                case "type": type = try parser.parseValue().stringValue
                case "contact_id": contactId = try parser.parseValue().stringValue
                case "timestamp_ms": if case .int(let v) = try parser.parseValue() { timestamp = v }
                case "received_at_ms": if case .int(let v) = try parser.parseValue() { receivedAt = v }
                case "properties": properties = try parser.parseValue().objectValue ?? [:]
                default: try parser.skipValue()
                }
            }
        }

        func event() throws(EventValidationError) -> Event {
            func required<T>(_ value: T?, _ field: String, _ kind: String) throws(EventValidationError) -> T {
                guard let value else { throw EventValidationError(field: field, reason: "is required and must be \(kind)") }
                return value
            }
            return Event(
                id: try required(id, "id", "a string"), type: try required(type, "type", "a string"),
                contactId: try required(contactId, "contact_id", "a string"),
                timestamp: try required(timestamp, "timestamp_ms", "an integer"), receivedAt: try required(receivedAt, "received_at_ms", "an integer"),
                properties: properties)
        }
    }
}

/// Why an event was refused: the field (dotted path, empty for the whole event) and the reason.
public typealias EventValidationError = FieldError

/// Why input was refused: the field (a path such as `properties.total` or
/// `pages[1].url`; empty for the whole input) and the reason — events and alert
/// rules report their errors the same way.
public struct FieldError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The field at fault, as a path (`properties.total`, `pages[1].url`); "" for the whole input.
    public var field: String
    /// What is wrong with it.
    public var reason: String

    /// A refusal of `field` for `reason`.
    public init(field: String, reason: String) {
        self.field = field
        self.reason = reason
    }

    /// `<field>: <reason>`, or the reason alone.
    public var description: String { field.isEmpty ? reason : "\(field): \(reason)" }
}

/// Turns producer input into `Event`s: the one set of rules for the HTTP API and
/// for records on `herald.events.raw`, so both refuse the same things the same way.
public struct EventValidator: Sendable {
    /// Longest accepted `id` and `contact_id`, in UTF-8 bytes.
    public var maximumIdentifierLength = 256
    /// Longest accepted `type`.
    public var maximumTypeLength = 64

    /// The fields an event may have; any other is refused.
    public static let allowedFields: Set<String> = ["id", "type", "contact_id", "timestamp", "properties"]

    /// A validator with the default limits.
    public init() {}

    /// Validates one event object.
    ///
    /// - Parameter receivedAt: receipt time, used when `timestamp` is absent.
    /// - Throws: `EventValidationError` for the first problem found, in field order
    ///   id, type, contact_id, timestamp, properties, then unknown fields.
    public func validate(_ value: JSONValue, receivedAt: Int64) throws(EventValidationError) -> Event {
        guard let o = value.objectValue else {
            throw EventValidationError(field: "", reason: "an event must be a JSON object, got \(value.typeDescription)")
        }
        let id = try identifier(o, "id")
        let type = try requiredString(o, "type")
        guard type.utf8.count <= maximumTypeLength else {
            throw EventValidationError(field: "type", reason: "must be at most \(maximumTypeLength) characters")
        }
        guard Self.isValidType(type) else {
            throw EventValidationError(field: "type", reason: "must start with a letter and contain only letters, digits, '_', '.', ':' or '-'")
        }
        let contactId = try identifier(o, "contact_id")
        var timestamp = receivedAt
        switch o["timestamp"] {
        case nil, .null?:
            break
        case .string(let s)?:
            guard let ms = RFC3339.parseMilliseconds(s) else {
                throw EventValidationError(field: "timestamp", reason: "'\(s)' is not an RFC 3339 date-time (e.g. 2026-11-22T10:00:00Z)")
            }
            timestamp = ms
        case let other?:
            throw EventValidationError(field: "timestamp", reason: "must be an RFC 3339 string, got \(other.typeDescription)")
        }
        var properties: [String: JSONValue] = [:]
        switch o["properties"] {
        case nil, .null?: break
        case .object(let p)?: properties = p
        case let other?:
            throw EventValidationError(field: "properties", reason: "must be a JSON object, got \(other.typeDescription)")
        }
        if o.count > 2 {
            for key in o.keys.sorted() where !Self.allowedFields.contains(key) {
                throw EventValidationError(field: key, reason: "unknown field (allowed: id, type, contact_id, timestamp, properties)")
            }
        }
        return Event(id: id, type: type, contactId: contactId, timestamp: timestamp, receivedAt: receivedAt, properties: properties)
    }

    func requiredString(_ o: [String: JSONValue], _ field: String) throws(EventValidationError) -> String {
        switch o[field] {
        case nil, .null?: throw EventValidationError(field: field, reason: "is required")
        case .string(let s)?:
            guard !s.isEmpty else { throw EventValidationError(field: field, reason: "must not be empty") }
            return s
        case let other?: throw EventValidationError(field: field, reason: "must be a string, got \(other.typeDescription)")
        }
    }

    func identifier(_ o: [String: JSONValue], _ field: String) throws(EventValidationError) -> String {
        let s = try requiredString(o, field)
        guard s.utf8.count <= maximumIdentifierLength else {
            throw EventValidationError(field: field, reason: "must be at most \(maximumIdentifierLength) bytes")
        }
        guard !s.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw EventValidationError(field: field, reason: "must not contain control characters")
        }
        return s
    }

    static func isValidType(_ s: String) -> Bool {
        var first = true
        for b in s.utf8 {
            let letter = (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
            if first {
                guard letter else { return false }
                first = false
                continue
            }
            let ok = letter || (b >= 0x30 && b <= 0x39) || b == 0x5F || b == 0x2E || b == 0x3A || b == 0x2D
            if !ok { return false }
        }
        return !first
    }
}

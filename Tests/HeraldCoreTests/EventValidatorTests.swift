import HeraldCore
import Testing

@Suite("Event validation")
struct EventValidatorTests {
    let validator = EventValidator()
    let now: Int64 = 1_795_374_818_000

    func validate(_ text: String) throws -> Event {
        try validator.validate(try JSONValue.parse(string: text), receivedAt: now)
    }

    @Test("a full event is accepted with its timestamp in UTC milliseconds")
    func valid() throws {
        let e = try validate(#"{"id":"e1","type":"purchase","contact_id":"c1","timestamp":"2026-11-22T10:00:00+01:00","properties":{"total":12.5}}"#)
        #expect(e == Event(id: "e1", type: "purchase", contactId: "c1", timestamp: 1_795_338_000_000, receivedAt: now, properties: ["total": 12.5]))
    }

    @Test("timestamp defaults to receipt time and properties to empty")
    func defaults() throws {
        let e = try validate(#"{"id":"e1","type":"page_visited","contact_id":"c1"}"#)
        #expect(e.timestamp == now)
        #expect(e.properties.isEmpty)
    }

    @Test(
        "each bad field is named",
        arguments: [
            (#"{"type":"a","contact_id":"c"}"#, "id", "is required"),
            (#"{"id":"","type":"a","contact_id":"c"}"#, "id", "must not be empty"),
            (#"{"id":5,"type":"a","contact_id":"c"}"#, "id", "must be a string, got a number"),
            (#"{"id":"e","contact_id":"c"}"#, "type", "is required"),
            (#"{"id":"e","type":"9lives","contact_id":"c"}"#, "type", "must start with a letter"),
            (#"{"id":"e","type":"has space","contact_id":"c"}"#, "type", "must start with a letter"),
            (#"{"id":"e","type":"a"}"#, "contact_id", "is required"),
            (#"{"id":"e","type":"a","contact_id":"line\nbreak"}"#, "contact_id", "control characters"),
            (#"{"id":"e","type":"a","contact_id":"c","timestamp":"yesterday"}"#, "timestamp", "not an RFC 3339"),
            (#"{"id":"e","type":"a","contact_id":"c","timestamp":1700000000}"#, "timestamp", "must be an RFC 3339 string"),
            (#"{"id":"e","type":"a","contact_id":"c","properties":[1]}"#, "properties", "must be a JSON object, got an array"),
            (#"{"id":"e","type":"a","contact_id":"c","contactId":"c"}"#, "contactId", "unknown field"),
            (#"[1,2]"#, "", "must be a JSON object"),
        ])
    func namesField(text: String, field: String, reason: String) throws {
        do {
            _ = try validate(text)
            Issue.record("expected \(field) to be refused")
        } catch let error as EventValidationError {
            #expect(error.field == field)
            #expect(error.reason.contains(reason), "\(error.reason)")
        }
    }

    @Test("over-long identifiers are refused")
    func lengths() throws {
        let long = String(repeating: "x", count: 257)
        #expect(throws: EventValidationError(field: "id", reason: "must be at most 256 bytes")) {
            try validate(#"{"id":"\#(long)","type":"a","contact_id":"c"}"#)
        }
    }

    @Test("the canonical form reads back to the same event")
    func canonicalRoundTrip() throws {
        let e = Event(
            id: "e1", type: "cart_abandoned", contactId: "c-ü", timestamp: 1_795_338_000_123, receivedAt: now,
            properties: ["items": [1, "two"], "total": 3.25])
        #expect(try Event(decoding: e.encoded()) == e)
        // The field-by-field writer gives exactly the bytes of the sorted JSON form.
        let escaped = Event(
            id: "e\"2\n", type: "page_visited", contactId: "c\\", timestamp: -1, receivedAt: 0, properties: ["type": "nested", "url": "https://x.example/é"])
        #expect(escaped.encoded() == escaped.json.serialized())
        #expect(try Event(decoding: escaped.encoded()) == escaped)
    }

    @Test("a canonical event missing a field, with a field of the wrong kind, or not JSON is refused; unknown fields are ignored")
    func canonicalBad() throws {
        let fields = #""id":"e","type":"t","contact_id":"c","timestamp_ms":5,"received_at_ms":6"#
        #expect(try Event(decoding: Array("{\(fields),\"extra\":{\"a\":[1]},\"timestamp\":\"x\"}".utf8)).timestamp == 5)
        #expect(throws: EventValidationError(field: "type", reason: "is required and must be a string")) {
            try Event(decoding: Array(#"{"id":"e","contact_id":"c","timestamp_ms":5,"received_at_ms":6}"#.utf8))
        }
        #expect(throws: EventValidationError(field: "timestamp_ms", reason: "is required and must be an integer")) {
            try Event(decoding: Array(#"{"id":"e","type":"t","contact_id":"c","timestamp_ms":5.5,"received_at_ms":6}"#.utf8))
        }
        for bad in ["{\(fields)", "{\(fields)}x", "[\(fields)]", "{\(fields),\"id\":\"again\"}"] {
            #expect(throws: JSONParseError.self, "\(bad)") { try Event(decoding: Array(bad.utf8)) }
        }
    }
}

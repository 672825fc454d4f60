import HeraldCore
import Testing

@Suite("Contact input")
struct ContactInputTests {
    @Test("a PATCH body becomes a change", arguments: [true, false])
    func body(replace: Bool) throws {
        let c = try ContactInput.change(fromBody: try JSONValue.parse(string: #"{"email":"ada@example.com","phone":"+420601234567","timezone":"Europe/Prague","attributes":{"gender":"female","city":null},"tags":["vip"],"lists":["newsletter"]}"#), replace: replace)
        #expect(c.replace == replace)
        #expect(c.fields["email"] == "ada@example.com")
        #expect(c.attributes == ["gender": "female", "city": .null])
        #expect(c.addTags == ["vip"])
        #expect(c.addLists == ["newsletter"])
    }

    @Test("bad values name the field", arguments: [
        (#"{"email":"not-an-email"}"#, "email"), (#"{"email":"a@b.c\r\nBcc: x@y.z"}"#, "email"),
        (#"{"phone":"601234567"}"#, "phone"), (#"{"phone":"+0601234567"}"#, "phone"),
        (#"{"timezone":"Mars/Base"}"#, "timezone"), (#"{"attributes":[1]}"#, "attributes"),
        (#"{"tags":"vip"}"#, "tags"), (#"{"colour":"red"}"#, "colour"), (#"[]"#, ""),
    ])
    func refused(body: String, field: String) throws {
        #expect(throws: EventValidationError.self) { try ContactInput.change(fromBody: try JSONValue.parse(string: body), replace: false) }
        do { _ = try ContactInput.change(fromBody: try JSONValue.parse(string: body), replace: false) } catch let e as EventValidationError { #expect(e.field == field) }
    }

    static let eventCases: [(String, [String: JSONValue], Bool)] = [
        ("tag_added", ["tag": "vip"], true), ("tag_removed", ["tag": "vip"], true),
        ("list_subscribed", ["list": "news"], true), ("list_unsubscribed", ["list": "news"], true),
        ("purchase", [:], true), ("contact_updated", ["attributes": ["city": "Brno"]], true),
        ("contact_updated", ["phone": "nope"], false), ("tag_added", [:], false), ("page_visited", ["url": "x"], false),
    ]

    @Test("events imply profile changes", arguments: eventCases)
    func events(type: String, properties: [String: JSONValue], changes: Bool) {
        let e = Event(id: "e1", type: type, contactId: "c", timestamp: 5, receivedAt: 6, properties: properties)
        #expect((ContactInput.change(for: e) != nil) == changes)
        if type == "purchase" { #expect(ContactInput.change(for: e)?.purchase?.id == "e1") }
    }
}

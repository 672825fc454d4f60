import HeraldCore
import Testing

@Suite("Contact input")
struct ContactInputTests {
    @Test("a PATCH body becomes a change", arguments: [true, false])
    func body(replace: Bool) throws {
        let c = try ContactInput.change(
            fromBody: try JSONValue.parse(
                string:
                    #"{"email":"ada@example.com","phone":"+420601234567","timezone":"Europe/Prague","attributes":{"gender":"female","city":null},"tags":["vip"],"lists":["newsletter"]}"#
            ), replace: replace)
        #expect(c.replace == replace)
        #expect(c.fields["email"] == "ada@example.com")
        #expect(c.attributes == ["gender": "female", "city": .null])
        #expect(c.addTags == ["vip"])
        #expect(c.addLists == ["newsletter"])
    }

    @Test(
        "bad values name the field",
        arguments: [
            (#"{"email":"not-an-email"}"#, "email"), (#"{"email":"a@b.c\r\nBcc: x@y.z"}"#, "email"),
            (#"{"phone":"601234567"}"#, "phone"), (#"{"phone":"+0601234567"}"#, "phone"),
            (#"{"timezone":"Mars/Base"}"#, "timezone"), (#"{"attributes":[1]}"#, "attributes"),
            (#"{"tags":"vip"}"#, "tags"), (#"{"colour":"red"}"#, "colour"), (#"[]"#, ""),
            // Bounds: a profile holds at most 1,000 tags and lists and 500 attributes, names of 1 to 256 bytes.
            ("{\"tags\":[" + (0...1000).map { "\"t\($0)\"" }.joined(separator: ",") + "]}", "tags"),
            ("{\"lists\":[\"" + String(repeating: "l", count: 257) + "\"]}", "lists"), (#"{"lists":["a\tb"]}"#, "lists"),
            ("{\"attributes\":{" + (0...500).map { "\"a\($0)\":1" }.joined(separator: ",") + "}}", "attributes"),
            (#"{"attributes":{"":1}}"#, "attributes"),
        ])
    func refused(body: String, field: String) throws {
        #expect(throws: EventValidationError.self) { try ContactInput.change(fromBody: try JSONValue.parse(string: body), replace: false) }
        do { _ = try ContactInput.change(fromBody: try JSONValue.parse(string: body), replace: false) } catch let e as EventValidationError {
            #expect(e.field == field)
        }
    }

    static let eventCases: [(String, [String: JSONValue], Bool)] = [
        ("tag_added", ["tag": "vip"], true), ("tag_removed", ["tag": "vip"], true),
        ("list_subscribed", ["list": "news"], true), ("list_unsubscribed", ["list": "news"], true),
        ("purchase", [:], true), ("contact_updated", ["attributes": ["city": "Brno"]], true),
        ("contact_updated", ["phone": "nope"], false), ("tag_added", [:], false), ("page_visited", ["url": "x"], true),
        ("campaign_entry_requested", ["campaign": "x"], false),
        ("tag_added", ["tag": "a\u{1}b"], false), ("list_subscribed", ["list": .string(String(repeating: "l", count: 257))], false),
        // An import's row names its source, which is not a field.
        ("contact_updated", ["email": "a@b.example", "source": "import"], true),
    ]

    @Test("events imply profile changes", arguments: eventCases)
    func events(type: String, properties: [String: JSONValue], changes: Bool) {
        let e = Event(id: "e1", type: type, contactId: "c", timestamp: 5, receivedAt: 6, properties: properties)
        #expect((ContactInput.change(for: e) != nil) == changes)
        if type == "purchase" { #expect(ContactInput.change(for: e)?.purchase?.id == "e1") }
        if properties["source"] != nil { #expect(ContactInput.change(for: e)?.fields == ["email": "a@b.example"]) }
        if type == "page_visited" { #expect(ContactInput.change(for: e)?.activity?.keys == ["page_visited"] && ContactInput.change(for: e)?.activity?.at == 5) }
    }

    @Test("a stored profile read member by member is the profile the dictionary gives; anything else is nil for both")
    func storedProfileBytes() {
        let stored = [
            #"{"purchases":{"o1":1700000000000,"o2":1.7e12},"notes":{"n1":{"text":"called"}},"tags":{"vip":true},"phone":"+420601234567","lists":{"news":true},"attributes":{"first_name":"Věra","address":{"city":"Brno"}},"consent":{"email":false},"updated_at_ms":1795492910071,"id":"c1","email":"vera@shop.example","timezone":"Europe/Prague","language":"cs","owner":"sales-1","x_newer":[1,{"a":null}]}"#,
            #"{"purchases":{},"notes":{},"tags":{},"phone":"+12000000000","lists":{},"attributes":{"first_name":"Ada"},"consent":{},"updated_at_ms":1.5,"id":"bench-send-1"}"#,
            #"{"id":"only"}"#,
            #"{"email":"no-id@shop.example"}"#, #"{"id":7}"#, #"[{"id":"c1"}]"#, #"{"id":"c1","id":"c2"}"#, #"{"id":"c1""#, "",
        ]
        for text in stored {
            let bytes = Array(text.utf8)
            let typed = try? ContactProfile(decoding: bytes)
            let dictionary = (try? JSONValue.parse(bytes)).flatMap { try? ContactProfile(stored: $0) }
            #expect(typed == dictionary, "\(text)")
        }
        #expect((try? ContactProfile(decoding: Array(stored[0].utf8)))?.purchases == ["o1": 1_700_000_000_000, "o2": 1_700_000_000_000])
    }

    @Test("a damaged stored profile with times no Int64 holds is read without them, by both readers, instead of stopping the process")
    func storedProfileOutOfRange() {
        let text = #"{"id":"c1","purchases":{"o1":1e300,"o2":-9.3e18,"o3":9.2e18,"o4":"soon"},"updated_at_ms":1.8e19}"#
        let typed = try? ContactProfile(decoding: Array(text.utf8))
        #expect(typed?.purchases == ["o3": 9_200_000_000_000_000_000])
        #expect(typed?.updatedAt == 0)
        #expect((try? JSONValue.parse(string: text)).flatMap { try? ContactProfile(stored: $0) } == typed)
    }
}

import HeraldCore
import Testing

@Suite("herald.journeys records")
struct JourneyCommandTests {
    let event = Event(
        id: "e\"1", type: "page_visited", contactId: "c-1", timestamp: 1_795_338_000_123, receivedAt: 1_795_338_000_200,
        properties: ["url": "https://shop.example/p?q=ü", "n": 3])

    @Test("both kinds are written as their sorted JSON and read back the same")
    func roundTrip() throws {
        for command in [JourneyCommand.event(event), .enter(campaignId: "welcome", contactId: "c-1", id: "welcome:e1", isTest: true)] {
            #expect(command.encoded() == command.json.serialized())
            #expect(try JourneyCommand(decoding: command.encoded()) == command)
        }
        // What the router writes from the record it read is the same record.
        #expect(JourneyCommand.encoded(canonicalEvent: event.encoded()) == JourneyCommand.event(event).encoded())
    }

    @Test(
        "anything else is not a command",
        arguments: [
            #"{"kind":"event"}"#, #"{"kind":"event","event":{"id":"e"}}"#, #"{"kind":"enter","campaign":"c","id":"i"}"#,
            #"{"kind":"other"}"#, #"{"event":{}}"#, #"[1]"#, #"{"kind":"enter","campaign":"c","contact_id":"x","id":"i"}x"#, "",
        ])
    func refused(text: String) {
        #expect(throws: (any Error).self) { try JourneyCommand(decoding: Array(text.utf8)) }
    }

    @Test("an enter without test is not a test entry; unknown fields are ignored")
    func defaults() throws {
        #expect(
            try JourneyCommand(decoding: Array(#"{"kind":"enter","campaign":"c","contact_id":"x","id":"i","v":[1,{"a":null}]}"#.utf8))
                == .enter(campaignId: "c", contactId: "x", id: "i", isTest: false))
    }
}

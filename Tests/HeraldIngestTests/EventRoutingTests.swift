import HeraldCore
import HeraldKafka
import Testing

@testable import HeraldIngest

/// The router's decisions on a batch of `herald.events`, without a broker or Redis.
@Suite("Event routing: profile changes, journey commands and dead letters from one batch")
struct EventRoutingTests {
    func record(_ bytes: [UInt8], offset: Int64) -> KafkaRecord {
        KafkaRecord(topic: Topics.events, partition: 0, offset: offset, key: nil, value: bytes)
    }

    func event(_ id: String, _ type: String, _ contact: String, _ properties: [String: JSONValue] = [:]) -> Event {
        Event(id: id, type: type, contactId: contact, timestamp: 1_796_000_000_000, receivedAt: 1_796_000_000_001, properties: properties)
    }

    @Test(
        "tags, lists, updates and activity become profile changes in the batch's order; only the types a campaign listens to become journey commands, keyed by contact and carrying the event's bytes"
    )
    func routing() throws {
        let events = [
            event("e1", "tag_added", "ann", ["tag": "vip"]),
            event("e2", "page_view", "bob", ["url": "https://shop.example/"]),
            event("e3", "cart_abandoned", "ann", ["cart_id": "k9"]),
            event("e4", "contact_updated", "bob", ["attributes": ["first_name": "Bob"]]),
            event("e5", "list_subscribed", "cyd", ["list": "news"]),
        ]
        let batch = events.enumerated().map { record($0.element.encoded(), offset: Int64($0.offset)) }
        let read = EventRouter.read(batch)
        #expect(read.undecodable.isEmpty)
        #expect(read.events.map(\.event.id) == ["e1", "e2", "e3", "e4", "e5"])
        // Every event changes the profile: other events are kept as activity (ContactActivity).
        #expect(read.changes.map(\.contactId) == ["ann", "bob", "ann", "bob", "cyd"])
        #expect(read.changes[0].change.addTags == ["vip"])
        #expect(read.changes[1].change.activity?.keys == ["page_view"] && read.changes[2].change.activity?.keys == ["cart_abandoned"])
        #expect(read.changes[3].change.attributes == ["first_name": "Bob"])
        #expect(read.changes[4].change.addLists == ["news"])

        // Activity only of the types campaigns and segments count: the page view changes nothing.
        let counted = EventRouter.read(batch, recordsActivity: { $0 == "cart_abandoned" })
        #expect(counted.changes.map(\.contactId) == ["ann", "ann", "bob", "cyd"] && counted.changes[1].change.activity?.keys == ["cart_abandoned"])
        let commands = EventRouter.commands(read.events, interesting: ["cart_abandoned", "list_subscribed"])
        #expect(commands.map(\.key) == ["ann", "cyd"])
        #expect(commands.allSatisfy { $0.topic == Topics.journeys })
        let first = try JourneyCommand(decoding: commands[0].value)
        guard case .event(let routed) = first else {
            Issue.record("expected an event command, got \(first)")
            return
        }
        #expect(routed.id == "e3" && routed.contactId == "ann" && routed.properties["cart_id"] == "k9")
        #expect(EventRouter.commands(read.events, interesting: []).isEmpty, "no live campaign: nothing is routed")
    }

    @Test("a record that is not a canonical event is set aside for herald.dlq; the events around it are still read")
    func undecodable() {
        let batch = [
            record(event("e1", "tag_added", "ann", ["tag": "vip"]).encoded(), offset: 0),
            record(Array("not json".utf8), offset: 1),
            record(Array(#"{"id":"x"}"#.utf8), offset: 2),
            record(event("e2", "purchase", "ann", ["order_id": "O-1", "total": 10]).encoded(), offset: 3),
        ]
        let read = EventRouter.read(batch)
        #expect(read.undecodable.map(\.offset) == [1, 2])
        #expect(read.events.map(\.event.id) == ["e1", "e2"])
        #expect(read.changes.count == 2 && read.changes[1].change.purchase?.id == "e2")
    }
}

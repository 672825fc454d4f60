import Foundation
import HeraldChannels
import HeraldCore
import HeraldKafka
import HeraldTestSupport
import Testing

@Suite("Contacts API changes start campaigns as events do (real ingestor and scheduler)", .timeLimit(.minutes(3)))
struct ContactEventsTests {
    let client = HTTPClient(concurrency: 4)

    func change(_ ingestor: TestIngestor, _ method: String, _ id: String, _ body: String) async throws {
        let r = try await client.send(
            method: method, url: "\(ingestor.apiURL)/v1/contacts/\(id)",
            headers: [("Authorization", "Bearer \(TestIngestor.adminKey)"), ("Content-Type", "application/json")], body: Array(body.utf8))
        #expect(r.status == 200, "\(r.bodyText)")
    }

    @Test(
        "subscribing a contact to a list through the API starts the list's campaign; tags and removals are events too; a repeat adds nothing; a change past the profile's bound is refused"
    )
    func apiListChangeTriggers() async throws {
        let broker = try TestBroker.start(partitions: 2)
        let redis = try await TestRedisServer()
        let ingestor = try await TestIngestor(broker: broker, redis: redis)
        let scheduler = try await TestWorker(.scheduler, broker: broker, redis: redis)
        let campaign = """
            id: api-lists
            list: vip
            triggers:
              - list_subscribed: vip
            steps:
              - id: hello
                send: {channel: email, template: welcome, category: promo}
            """
        let published = try await client.send(
            method: "POST", url: "\(ingestor.apiURL)/v1/campaigns/api-lists/publish",
            headers: [("Authorization", "Bearer \(TestIngestor.adminKey)"), ("Content-Type", "application/yaml")], body: Array(campaign.utf8))
        #expect(published.status == 200, "\(published.bodyText)")
        try await change(ingestor, "PUT", "ann", #"{"email":"ann@example.com","lists":["old"],"tags":["a"]}"#)
        try await change(ingestor, "PATCH", "ann", #"{"lists":["vip"],"tags":["b"]}"#)
        try await change(ingestor, "PATCH", "ann", #"{"lists":["vip"]}"#)  // already subscribed: no event
        try await change(ingestor, "PUT", "ann", #"{"email":"ann@example.com","lists":["vip"]}"#)  // drops list old, tags a and b
        // The journey's send: the list's campaign started from the API change.
        let sends = try await readTopic(Topics.sends, bootstrapServers: broker.bootstrapServers) { $0.contains { $0.keyString == "ann" } }
        let send = try #require(sends.first { $0.keyString == "ann" }, "\(scheduler.log)")
        #expect(try SendRequest(decoding: send.value).campaignId == "api-lists")
        // Every membership change is an event on herald.events, marked as from the API, once.
        let expected = [
            "list_subscribed old", "tag_added a", "list_subscribed vip", "tag_added b", "list_unsubscribed old", "tag_removed a", "tag_removed b",
        ]
        let events = try await readTopic(Topics.events, bootstrapServers: broker.bootstrapServers) { $0.count >= expected.count }
            .compactMap { try? Event(decoding: $0.value) }
        let seen = events.map { "\($0.type) \($0.properties["list"]?.stringValue ?? $0.properties["tag"]?.stringValue ?? "")" }
        #expect(seen.sorted() == expected.sorted(), "\(seen)")
        #expect(events.allSatisfy { $0.properties["source"] == "api" && $0.contactId == "ann" })
        // A change that would take the profile past its 1 MiB bound: 422, and nothing changed.
        let big = String(repeating: "x", count: 600_000)
        try await change(ingestor, "PATCH", "bea", #"{"attributes":{"a":"\#(big)"}}"#)
        let refused = try await client.send(
            method: "PATCH", url: "\(ingestor.apiURL)/v1/contacts/bea",
            headers: [("Authorization", "Bearer \(TestIngestor.adminKey)"), ("Content-Type", "application/json")],
            body: Array(#"{"attributes":{"b":"\#(big)"}}"#.utf8))
        #expect(refused.status == 422 && refused.bodyText.contains("larger than 1024 KiB"), "\(refused.status) \(refused.bodyText)")
        let bea = try await client.send(
            method: "GET", url: "\(ingestor.apiURL)/v1/contacts/bea", headers: [("Authorization", "Bearer \(TestIngestor.adminKey)")])
        #expect(bea.status == 200 && !bea.bodyText.contains(#""b":"#), "the refused change was not applied")
        await scheduler.process.stop()
        await ingestor.process.stop()
        await redis.stop()
    }
}

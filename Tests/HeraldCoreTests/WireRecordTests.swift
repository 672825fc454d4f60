import Foundation
import HeraldCore
import Testing

/// Every record Herald writes as bytes goes through the same two calls; these
/// tests hold each record's writer and reader to each other, and each reader's
/// refusals to naming what is wrong (the dead-letter reason an operator reads).
@Suite("Wire records: one writer and one reader per record")
struct WireRecordTests {
    static let event = Event(
        id: "e\"1", type: "cart_abandoned", contactId: "c-ü", timestamp: 1_795_338_000_123, receivedAt: 1_795_338_000_200,
        properties: ["items": [1, "two", ["sku": "A-1"]], "total": 3.25, "note": "line\nbreak"])

    static var sendRequest: SendRequest {
        var r = SendRequest(
            id: "s1", contactId: "c-ü", campaignId: "welcome", version: 3, instanceId: "i1", stepId: "mail", channel: .whatsapp, template: "hello",
            category: "marketing", isTest: true, createdAtMs: 1_795_338_000_000)
        r.event = ["id": "e1", "properties": ["total": 12]]
        r.originMs = 1_795_337_999_000
        return r
    }

    static var emailToColleague: SendRequest {
        var r = SendRequest(id: "s2", contactId: "c-2", campaignId: "alert:pricing", channel: .email, template: "-")
        r.to = "sales@shop.example"
        r.content = PreparedEmail(
            subject: "Ann is on pricing", text: "since 10:00", html: "<p>since 10:00</p>",
            attachments: [EmailAttachment(filename: "a.csv", contentType: "text/csv", content: "YQ==")])
        return r
    }

    static var instance: JourneyInstance {
        var i = JourneyInstance(
            id: "j1", campaignId: "welcome", version: 2, contactId: "c-1", triggerEvent: ["type": "list_subscribed"], stepId: "wait-1", enteredAt: 1_000,
            isTest: true)
        i.status = .waiting(until: 90_000)
        i.sequence = 4
        i.visits = ["wait-1": 2]
        return i
    }

    /// Writes, reads back, and checks the bytes are the record's sorted JSON.
    func holds<R: WireRecord & Equatable>(_ record: R, json: JSONValue) throws {
        let bytes = record.encoded()
        #expect(bytes == json.serialized(), "\(R.self) writes its sorted JSON")
        #expect(try R(decoding: bytes) == record, "\(R.self) reads back what it wrote")
    }

    @Test("each record reads back what it writes, and writes its sorted JSON")
    func roundTrips() throws {
        try holds(Self.event, json: Self.event.json)
        try holds(JourneyCommand.event(Self.event), json: JourneyCommand.event(Self.event).json)
        let enter = JourneyCommand.enter(campaignId: "welcome", contactId: "c-1", id: "welcome:e1", isTest: true)
        try holds(enter, json: enter.json)
        try holds(Self.sendRequest, json: Self.sendRequest.json)
        try holds(Self.emailToColleague, json: Self.emailToColleague.json)
        for status in [JourneyStatus.running, .waiting(until: 5), .completed(at: 6), .exited(reason: .exitEvent, at: 7)] {
            var i = Self.instance
            i.status = status
            try holds(i, json: i.json)
        }
        let visit = PageVisit(eventId: "v1", url: "shop.example/pricing", at: 1_000, session: nil, acceptedAt: 1_001, waiting: ["r": 30_000])
        try holds(visit, json: visit.json)
    }

    @Test("a stored profile, written by the store's Lua script, reads the same from bytes as from its dictionary")
    func storedProfile() throws {
        let text =
            #"{"id":"c-1","email":"ann@shop.example","tags":{"vip":true},"lists":{"news":true},"purchases":{"o1":1700000000000},"purchases_older":2,"updated_at_ms":5}"#
        let profile = try ContactProfile(decoding: Array(text.utf8))
        #expect(profile == (try ContactProfile(stored: JSONValue.parse(string: text))))
        #expect(profile.tags == ["vip"] && profile.lists == ["news"] && profile.purchaseCount == 3 && profile.updatedAt == 5)
    }

    /// The description of what `read` throws for `text`.
    func refusal(_ read: ([UInt8]) throws -> Any, _ text: String) -> String {
        do {
            _ = try read(Array(text.utf8))
            return "accepted"
        } catch {
            return "\(error)"
        }
    }

    @Test("a reader that refuses names the field that is missing or mistyped")
    func refusalsNameTheField() {
        #expect(refusal(Event.init(decoding:), #"{"id":"e","contact_id":"c","timestamp_ms":5,"received_at_ms":6}"#).hasPrefix("type:"))
        #expect(refusal(JourneyCommand.init(decoding:), #"{"kind":"stop"}"#).hasPrefix("kind:"))
        #expect(refusal(JourneyCommand.init(decoding:), #"{"kind":"enter","campaign":"c","id":"i"}"#).hasPrefix("contact_id:"))
        #expect(refusal(JourneyCommand.init(decoding:), #"{"kind":"event"}"#).hasPrefix("event:"))
        #expect(refusal(SendRequest.init(decoding:), #"{"id":"s","contact_id":"c","campaign_id":"k","channel":"fax","template":"t"}"#).contains("'channel'"))
        #expect(refusal(PageVisit.init(decoding:), #"{"event_id":"e","at":5}"#).hasPrefix("url:"))
        #expect(
            refusal(JourneyInstance.init(decoding:), #"{"id":"j","campaign":"c","version":1,"contact":"x","step":"s","entered":1,"status":{}}"#).hasPrefix(
                "status.kind:"))
        #expect(refusal(ContactProfile.init(decoding:), #"{"email":"a@b.example"}"#).hasPrefix("id:"))
        for read in [
            Event.init(decoding:), JourneyCommand.init(decoding:), SendRequest.init(decoding:), PageVisit.init(decoding:), JourneyInstance.init(decoding:),
        ] as [([UInt8]) throws -> Any] {
            #expect(refusal(read, #"{"id":"#) != "accepted", "cut-off JSON is refused")
        }
    }

    @Test("a send's account is written only when set, and read only when it is an account name")
    func accountRoundTrip() throws {
        var r = Self.sendRequest
        #expect(!String(decoding: r.encoded(), as: UTF8.self).contains("account"), "records without one are as before")
        r.account = "sales"
        #expect(String(decoding: r.encoded(), as: UTF8.self).contains(#""account":"sales""#))
        #expect(try SendRequest(decoding: r.encoded()) == r)
        let text = String(decoding: r.encoded(), as: UTF8.self)
        for bad in [#""account":"../x""#, #""account":5"#, #""account":"""#] {
            let damaged = text.replacingOccurrences(of: #""account":"sales""#, with: bad)
            #expect(refusal(SendRequest.init(decoding:), damaged).contains("'account'"), "\(bad)")
        }
    }

    @Test("a send's origin time is written only when set, so a negative one read from a damaged record reads back the same")
    func originRoundTrip() throws {
        var text = String(decoding: Self.sendRequest.encoded(), as: UTF8.self)
        text = text.replacingOccurrences(of: #""origin_ms":1795337999000"#, with: #""origin_ms":-5"#)
        let read = try SendRequest(decoding: Array(text.utf8))
        #expect(read.originMs == 0)
        #expect(try SendRequest(decoding: read.encoded()) == read)
    }
}

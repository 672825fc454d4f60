import Foundation
import HeraldCore
import Testing

@Suite("Email messages and message states")
struct SendsTests {
    @Test("a header value with a line break is refused, not cleaned")
    func headerInjection() throws {
        let from = try EmailAddress("shop@shop.example", name: "Shop")
        let to = try EmailAddress("ann@shop.example")
        let bad = EmailMessage(from: from, to: to, subject: "Hi\r\nBcc: everyone@evil.example", text: "x", sendId: "k")
        #expect(throws: EmailMessageError.self) { try bad.rendered() }
        #expect(throws: EmailMessageError.self) { try EmailAddress("ann@shop.example", name: "Ann\nBcc: x@evil.example") }
        let good = try EmailMessage(from: from, to: to, subject: "Grüße", text: "hello", html: "<p>hello</p>", sendId: "k", unsubscribeURL: "https://u.example/x").rendered()
        let text = String(decoding: good, as: UTF8.self)
        #expect(text.contains("Subject: =?UTF-8?B?"))
        #expect(text.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"))
        #expect(!text.contains("\n\n") || text.contains("\r\n\r\n"))
    }

    @Test("addresses: common valid forms pass; spaces, missing parts, bad domains fail")
    func addresses() {
        for ok in ["a@b.co", "first.last+tag@mail.shop.example", "o'brien@x-y.example"] { #expect(EmailAddress.isValid(ok), "\(ok)") }
        for bad in ["", "a@b", "@b.co", "a b@b.co", "a@b..co", "a@-b.co", "a@b.co\r\n", "<a@b.co>", "a@@b.co"] { #expect(!EmailAddress.isValid(bad), "\(bad)") }
    }

    @Test("states only move forward: a late delivered never overwrites read; nothing cancels a sent message")
    func monotonic() {
        #expect(MessageState.read.allows(.delivered) == false)
        #expect(MessageState.delivered.allows(.read))
        #expect(MessageState.sent.allows(.cancelled) == false)
        #expect(MessageState.sent.allows(.invalidRecord) == false)
        #expect(MessageState.inProgress.allows(.retryScheduled) && MessageState.retryScheduled.allows(.inProgress))
        #expect(MessageState.error.allows(.sent) == false)
        #expect(MessageState.initial.allows(.cancelled) && MessageState.retryScheduled.allows(.cancelled))
    }

    @Test("a send request round-trips through its JSON; a missing field is named")
    func request() throws {
        let r = SendRequest(id: "i:s:1", contactId: "c", campaignId: "k", channel: "email", template: "t", category: "promo", isTest: true, createdAtMs: 5)
        #expect(try SendRequest(json: r.json) == r)
        #expect(throws: SendRequestError.self) { try SendRequest(json: ["id": "x", "campaign_id": "k", "channel": "email", "template": "t"]) }
    }
}

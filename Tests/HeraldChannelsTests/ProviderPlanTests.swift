import Foundation
import HeraldCore
import HeraldRedis
import Logging
import Testing

@testable import HeraldChannels

/// Each provider's plan for one request, without a network or Redis: what goes on
/// the wire, under which limits, and what ends without a call.
@Suite("Channel providers: the request each message becomes")
struct ProviderPlanTests {
    static let clock = WallClock { 1_796_000_000_123 }

    func call(_ plan: SendPlan) -> ProviderCall? {
        if case .call(let c) = plan { return c }
        return nil
    }

    func finish(_ plan: SendPlan) -> (MessageState, String)? {
        if case .finish(let state, let reason) = plan { return (state, reason) }
        return nil
    }

    func http(_ call: ProviderCall?) -> HTTPRequest? {
        if case .http(let request, _)? = call?.action { return request() }
        return nil
    }

    /// A templates directory with one email and one SMS template.
    static func templates() async throws -> MustacheTemplates {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("herald-provider-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("email/welcome"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("sms"), withIntermediateDirectories: true)
        try "Hello {{contact.attributes.first_name}}".write(to: dir.appendingPathComponent("email/welcome/subject.mustache"), atomically: true, encoding: .utf8)
        try "Order {{event.order_id}}. Leave: {{unsubscribe_url}}".write(
            to: dir.appendingPathComponent("email/welcome/text.mustache"), atomically: true, encoding: .utf8)
        try "<p>See <a href=\"https://shop.example/o\">your order</a></p>".write(
            to: dir.appendingPathComponent("email/welcome/html.mustache"), atomically: true, encoding: .utf8)
        try "  Hi {{contact.attributes.first_name}}, order {{event.order_id}} ships today.\n".write(
            to: dir.appendingPathComponent("sms/shipped.mustache"), atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: dir) }
        return try await MustacheTemplates.load(directory: dir.path)
    }

    /// The base64 bodies of a MIME message's parts, decoded.
    static func decodedParts(_ message: String) -> [String] {
        message.components(separatedBy: "Content-Transfer-Encoding: base64\r\n\r\n").dropFirst().compactMap { part in
            let encoded = part.components(separatedBy: "--herald")[0].replacingOccurrences(of: "\r\n", with: "")
            return Data(base64Encoded: encoded).map { String(decoding: $0, as: UTF8.self) }
        }
    }

    static var profile: ContactProfile {
        var p = ContactProfile(id: "c1")
        p.email = "ann@Shop.Example"
        p.phone = "+420601234567"
        p.attributes = ["first_name": "Věra"]
        return p
    }

    static func request(_ channel: Channel, template: String, category: String? = nil) -> SendRequest {
        var r = SendRequest(id: "k1:s1:c1", contactId: "c1", campaignId: "k1", stepId: "s1", channel: channel, template: template, category: category)
        r.event = ["order_id": "O-77"]
        return r
    }

    @Test("email: rendered for the contact, dated by the injected clock, a signed unsubscribe link for marketing only, under the per-domain rate")
    func email() async throws {
        var provider = EmailProvider(
            templates: try await Self.templates(), from: try EmailAddress("shop@shop.example"), publicURL: "https://herald.shop.example",
            unsubscribeSecret: "s3cret", perDomainPerSecond: 5)
        provider.clock = Self.clock
        let marketing = try #require(call(try await provider.plan(Self.request(.email, template: "welcome"), profile: Self.profile)))
        guard case .smtp(let envelope, let outcome) = marketing.action else {
            Issue.record("expected an SMTP hand-off")
            return
        }
        let text = String(decoding: envelope.message, as: UTF8.self)
        #expect(envelope.to == ["ann@Shop.Example"] && envelope.from == "shop@shop.example")
        let link = UnsubscribeLink.url(base: "https://herald.shop.example", secret: "s3cret", contactId: "c1", messageId: "k1:s1:c1")
        #expect(text.contains("List-Unsubscribe: <\(link)>"), "\(text)")
        #expect(text.contains("Subject: =?UTF-8?B?\(Data("Hello Věra".utf8).base64EncodedString())?="))
        #expect(text.contains("Date: Mon, 30 Nov 2026 00:53:20 +0000"), "dated by the injected clock")
        let parts = Self.decodedParts(text)
        #expect(parts.count == 2)
        #expect(parts.first?.hasPrefix("Order O-77. Leave: https://herald.shop.example/v1/unsubscribe?") == true)
        #expect(parts.last?.contains("https://herald.shop.example/v1/t/c?") == true, "the HTML's links are rewritten for click tracking")
        #expect(marketing.rates == [.init(name: "email-domain:shop.example", limit: 5, window: .seconds(1))])
        #expect(marketing.unique == nil && !marketing.callbacksNameMessage)
        if case .retry = outcome(.temporary("452 mailbox full")) {} else { Issue.record("a 4xx reply is retried") }

        let transactional = try #require(
            call(try await provider.plan(Self.request(.email, template: "welcome", category: "transactional"), profile: Self.profile)))
        guard case .smtp(let receipt, _) = transactional.action else { return }
        #expect(!String(decoding: receipt.message, as: UTF8.self).contains("List-Unsubscribe"))

        // A broadcast's own From, at the configured domain; any other domain is refused.
        var news = Self.request(.email, template: "welcome")
        news.from = try EmailAddress("news@shop.example", name: "Shop News")
        let fromNews = try #require(call(try await provider.plan(news, profile: Self.profile)))
        guard case .smtp(let newsEnvelope, _) = fromNews.action else { return }
        #expect(newsEnvelope.from == "news@shop.example" && String(decoding: newsEnvelope.message, as: UTF8.self).contains("<news@shop.example>"))
        news.from = try EmailAddress("ceo@elsewhere.example")
        #expect(
            finish(try await provider.plan(news, profile: Self.profile))?.1
                == "From 'ceo@elsewhere.example' is not at shop.example, the domain of sender.email_from")

        var noAddress = Self.profile
        noAddress.email = nil
        #expect(finish(try await provider.plan(Self.request(.email, template: "welcome"), profile: noAddress))?.1 == "the contact has no email address")
        #expect(finish(try await provider.plan(Self.request(.email, template: "welcome"), profile: nil))?.0 == .invalidRecord)
        #expect(finish(try await provider.plan(Self.request(.email, template: "missing"), profile: Self.profile))?.0 == .sendingFailed)
    }

    @Test("webhook: the body signed under the secret with the timestamp at call time, the send id as idempotency key; unsigned or non-HTTP never sent")
    func webhook() async throws {
        var provider = WebhookProvider(secret: "hook-key", timeout: .seconds(3), addressPolicy: AddressPolicy())
        provider.clock = Self.clock
        let planned = try #require(call(try await provider.plan(Self.request(.webhook, template: "https://crm.example/hook"), profile: Self.profile)))
        let request = try #require(http(planned))
        let headers = Dictionary(request.headers, uniquingKeysWith: { a, _ in a })
        #expect(headers["X-Herald-Timestamp"] == "1796000000")
        let expected = Hashing.hex(Hashing.hmacSHA256(key: Array("hook-key".utf8), message: Array("1796000000.".utf8) + (request.body ?? [])))
        #expect(headers["X-Herald-Signature"] == "sha256=\(expected)")
        #expect(headers["Idempotency-Key"] == "k1:s1:c1")
        let body = try JSONValue.parse(request.body ?? [])
        #expect(body["contact"]?["email"] == "ann@Shop.Example" && body["event"]?["order_id"] == "O-77" && body["step_id"] == "s1")
        #expect(request.addressPolicy != nil, "a webhook's address is checked against the policy")

        #expect(
            finish(try await provider.plan(Self.request(.webhook, template: "ftp://crm.example/hook"), profile: nil))?.1
                == "webhook URL 'ftp://crm.example/hook' is not http(s)")
        provider.secret = ""
        #expect(finish(try await provider.plan(Self.request(.webhook, template: "https://crm.example/hook"), profile: nil))?.0 == .sendingFailed)

        func kind(_ status: Int) -> String {
            switch WebhookProvider.outcome(.success(HTTPClientResponse(status: status, headers: [], body: []))) {
            case .sent: "sent"
            case .retry: "retry"
            case .deferred: "deferred"
            case .failed: "failed"
            case .unknown: "unknown"
            case .retryAfter: "retry_after"
            case .accountStopped: "stopped"
            }
        }
        #expect([204, 429, 503, 404].map(kind) == ["sent", "deferred", "retry", "failed"])
    }

    @Test("SMS: Twilio's form with Basic auth, the body trimmed, and a status callback that names the message")
    func sms() async throws {
        let provider = TwilioSMSProvider(
            apiURL: "https://api.twilio.example", accountSid: "AC123", authToken: "tok", from: "+15550001111",
            publicURL: "https://herald.shop.example", templates: try await Self.templates(), timeout: .seconds(5))
        let planned = try #require(call(try await provider.plan(Self.request(.sms, template: "shipped"), profile: Self.profile)))
        #expect(planned.callbacksNameMessage)
        let request = try #require(http(planned))
        #expect(request.url == "https://api.twilio.example/2010-04-01/Accounts/AC123/Messages.json")
        let headers = Dictionary(request.headers, uniquingKeysWith: { a, _ in a })
        #expect(headers["Authorization"] == "Basic \(Data("AC123:tok".utf8).base64EncodedString())")
        let form = Dictionary(
            String(decoding: request.body ?? [], as: UTF8.self).split(separator: "&").map { pair -> (String, String) in
                let kv = pair.split(separator: "=", maxSplits: 1).map { String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "" }
                return (kv[0], kv.count > 1 ? kv[1] : "")
            }, uniquingKeysWith: { a, _ in a })
        #expect(form["To"] == "+420601234567" && form["From"] == "+15550001111")
        #expect(form["Body"] == "Hi Věra, order O-77 ships today.")
        let reference = MessageReference(Self.request(.sms, template: "shipped")).text
        #expect(form["StatusCallback"] == "https://herald.shop.example/v1/status/twilio?\(reference)")

        // A broadcast may name the field holding the number.
        var mobile = Self.profile
        mobile.attributes["mobile"] = "+420777000111"
        var fromMobile = Self.request(.sms, template: "shipped")
        fromMobile.phoneField = "attributes.mobile"
        let toMobile = try #require(http(call(try await provider.plan(fromMobile, profile: mobile))))
        #expect(String(decoding: toMobile.body ?? [], as: UTF8.self).contains("To=%2B420777000111"), "\(String(decoding: toMobile.body ?? [], as: UTF8.self))")
        #expect(finish(try await provider.plan(fromMobile, profile: Self.profile))?.1 == "the contact has no attributes.mobile")
        mobile.attributes["mobile"] = "777"
        #expect(finish(try await provider.plan(fromMobile, profile: mobile))?.1 == "'777' in attributes.mobile is not an E.164 number")

        var badPhone = Self.profile
        badPhone.phone = "601 234 567"
        #expect(finish(try await provider.plan(Self.request(.sms, template: "shipped"), profile: badPhone))?.1 == "'601 234 567' is not an E.164 number")
        #expect(finish(try await provider.plan(Self.request(.sms, template: "nope"), profile: Self.profile))?.0 == .sendingFailed)
        let unconfigured = TwilioSMSProvider(
            apiURL: "", accountSid: "", authToken: "", from: "", publicURL: "", templates: try await Self.templates(), timeout: .seconds(5))
        #expect(
            finish(try await unconfigured.plan(Self.request(.sms, template: "shipped"), profile: Self.profile))?.1.contains("SMS is not configured") == true)
    }

    @Test("WhatsApp: unconfigured, no phone, or an unmapped template end before the catalogue is read")
    func whatsAppChecks() async throws {
        // A pool that is never used: each of these plans ends before the catalogue.
        let catalog = WhatsAppCatalog(redis: RedisPool(configuration: .init(host: "127.0.0.1", port: 1), logger: Logger(label: "test")))
        func provider(token: String) -> WhatsAppProvider {
            WhatsAppProvider(
                apiURL: "https://graph.example", apiVersion: "v23.0", phoneNumberId: "1055", token: token,
                templates: WhatsAppTemplates(templates: [
                    "order-update": .init(language: "cs", parameters: [.init(field: "contact.attributes.first_name", defaultValue: "zákazníku")])
                ]),
                catalog: catalog, recipientInterval: .seconds(6), tier: 250, timeout: .seconds(5))
        }
        let request = Self.request(.whatsapp, template: "order-update")
        #expect(finish(try await provider(token: "").plan(request, profile: Self.profile))?.1.contains("WhatsApp is not configured") == true)
        var noPhone = Self.profile
        noPhone.phone = nil
        #expect(finish(try await provider(token: "t").plan(request, profile: noPhone))?.1 == "the contact has no phone number")
        #expect(
            finish(try await provider(token: "t").plan(Self.request(.whatsapp, template: "other"), profile: Self.profile))?.1
                == "no WhatsApp template 'other' (config/templates/whatsapp/other.yaml)")
    }
}

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
        let good = try EmailMessage(
            from: from, to: to, subject: "Grüße", text: "hello", html: "<p>hello</p>", sendId: "k", unsubscribeURL: "https://u.example/x"
        ).rendered()
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

    @Test("the byte-level address check decides as the general form it replaced, on 25,000 random strings and edge cases")
    func addressesAsBefore() {
        // Kept to about a tenth of a second: a synchronous test holds one of the
        // two threads of the cooperative pool, and timing tests share it.
        // The check before the byte-level fast path, kept as the reference.
        func reference(_ address: String) -> Bool {
            let parts = address.split(separator: "@", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, parts[0].utf8.count <= 64, address.utf8.count <= 254 else { return false }
            let forbidden = Set(" <>()[],;:\"\\\r\n\t".utf8)
            guard parts[0].utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && !forbidden.contains($0) }) else { return false }
            let labels = parts[1].split(separator: ".", omittingEmptySubsequences: false)
            guard labels.count >= 2 else { return false }
            return labels.allSatisfy { l in
                !l.isEmpty && l.count <= 63 && !l.hasPrefix("-") && !l.hasSuffix("-")
                    && l.unicodeScalars.allSatisfy { ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-") }
            }
        }
        let alphabet: [Character] = [
            "a", "Z", "0", "9", "@", ".", "-", "_", "+", " ", "<", "\"", "\\", "\r\n", "\n", "\t", "é", "ř", "ß", "日", "\u{0301}", "\u{7F}", "😀", "[", ";",
        ]
        var rng = SystemRandomNumberGenerator()
        var cases = [
            String(repeating: "a", count: 64) + "@b.co", String(repeating: "a", count: 65) + "@b.co", "a@" + String(repeating: "b", count: 63) + ".co",
            "a@" + String(repeating: "b", count: 64) + ".co", "a@" + String(repeating: "ř", count: 63) + ".cz",
            "a@" + String(repeating: "ř", count: 64) + ".cz",
            "a@" + String(repeating: "b.", count: 126) + "co", "a@e\u{0301}.cz", "a@b.c-", "a@b.-c", "a@.b.c", "a@b.c.",
        ]
        for _ in 0..<20_000 { cases.append(String((0..<Int.random(in: 1...14, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! })) }
        for _ in 0..<5_000 { cases.append("x@" + String((0..<Int.random(in: 1...10, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }) + ".cz") }
        let differing = cases.filter { EmailAddress.isValid($0) != reference($0) }
        #expect(differing.isEmpty, "\(differing.prefix(5).map { Array($0.unicodeScalars) })")
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

    @Test("the Date header is RFC 5322 in UTC, weekday and month in English")
    func dateHeader() {
        #expect(EmailMessage.rfc5322Date(Date(timeIntervalSince1970: 0)) == "Thu, 01 Jan 1970 00:00:00 +0000")
        #expect(EmailMessage.rfc5322Date(Date(timeIntervalSince1970: 1_795_395_120.5)) == "Mon, 23 Nov 2026 00:52:00 +0000")
        #expect(EmailMessage.rfc5322Date(Date(timeIntervalSince1970: 1_709_208_000)) == "Thu, 29 Feb 2024 12:00:00 +0000")
    }

    @Test("a send request round-trips through its JSON; a missing field is named")
    func request() throws {
        let r = SendRequest(id: "i:s:1", contactId: "c", campaignId: "k", channel: .email, template: "t", category: "promo", isTest: true, createdAtMs: 5)
        #expect(try SendRequest(json: r.json) == r)
        #expect(throws: SendRequestError.self) { try SendRequest(json: ["id": "x", "campaign_id": "k", "channel": "email", "template": "t"]) }
    }

    @Test("a send request's channel is one Herald has: any other is refused by name, by the dictionary and the byte reader alike")
    func unknownChannel() throws {
        for channel in Channel.allCases {
            let r = SendRequest(id: "i", contactId: "c", campaignId: "k", channel: channel, template: "t")
            #expect(try SendRequest(decoding: r.json.serialized()).channel == channel)
        }
        let fax = Array(#"{"id":"x","contact_id":"c","campaign_id":"k","channel":"fax","template":"t"}"#.utf8)
        #expect { try SendRequest(decoding: fax) } throws: { ($0 as? SendRequestError)?.field == "channel" }
        #expect { try SendRequest(json: JSONValue.parse(fax)) } throws: { ($0 as? SendRequestError)?.field == "channel" }
    }

    @Test("a copy of a request is its own: changing it leaves the original as it was; equal fields are equal requests")
    func copyOnWrite() {
        let a = SendRequest(id: "i:s:1", contactId: "c", campaignId: "k", channel: .email, template: "t")
        var b = a
        b.template = "other"
        b.event["x"] = 1
        #expect(a.template == "t" && a.event.isEmpty && b.template == "other" && b.event == ["x": 1])
        #expect(a != b)
        var c = b
        c.template = "t"
        c.event = [:]
        #expect(c == a && b.template == "other")
        #expect(a.description.hasPrefix("SendRequest(id: \"i:s:1\"") && a.description.contains("template: \"t\""), "\(a)")
    }

    @Test("decoding a record field by field gives the request, or the error, that the dictionary gives")
    func decodeMatchesDictionary() throws {
        var full = SendRequest(
            id: "i:s:1", contactId: "c", campaignId: "k", version: 3, instanceId: "i", stepId: "s", channel: .email, template: "t", category: "promo",
            isTest: true, createdAtMs: 5)
        full.event = ["order": ["id": "O-1", "total": 12.5], "tags": ["a", "b"]]
        full.to = "ann@shop.example"
        full.content = PreparedEmail(
            subject: "S", text: "T", html: "<p>T</p>", attachments: [EmailAttachment(filename: "a.txt", contentType: "text/plain", content: "eA==")])
        full.originMs = 77
        let records: [String] = [
            full.json.jsonString,
            SendRequest(id: "x", contactId: "c", campaignId: "k", channel: .whatsapp, template: "t").json.jsonString,
            #" {"template":"t","id":"x","contact_id":"c","campaign_id":"k","channel":"sms","unknown":{"deep":[1,2,{"x":null}]},"category":null} "#,
            #"{"id":"x","campaign_id":"k","channel":"email","template":"t"}"#,  // contact_id missing
            #"{"id":"","contact_id":"c","campaign_id":"k","channel":"email","template":"t"}"#,  // empty id
            #"{"id":7,"contact_id":"c","campaign_id":"k","channel":"email","template":"t"}"#,  // id not a string
            #"{"id":"x","contact_id":"c","campaign_id":"k","channel":"email","template":"t","version":"2","test":"yes","created_at_ms":1.5}"#,
            #"{"id":"x","contact_id":"c","campaign_id":"k","channel":"email","template":"t","content":{"subject":"s"}}"#,  // content without text
            #"{"id":"x","contact_id":"c","campaign_id":"k","channel":"email","template":"t","content":null,"event":[]}"#,
            #"{"id":"x","id":"y","contact_id":"c","campaign_id":"k","channel":"email","template":"t"}"#,  // duplicate key
            #"[{"id":"x"}]"#, #""text""#, #"{"id":"x","#, "", "not json",
        ]
        // The request, or what the error says (a JSON error may name another
        // byte: the field-by-field reader finds a duplicate key before its value).
        enum Outcome: Equatable {
            case request(SendRequest)
            case failure(String)
        }
        func outcome(_ body: () throws -> SendRequest) -> Outcome {
            do { return .request(try body()) } catch let e as JSONParseError { return .failure("JSON: \(e.reason)") } catch {
                return .failure("\(type(of: error)) \(error)")
            }
        }
        for text in records {
            let bytes = Array(text.utf8)
            let typed = outcome { try SendRequest(decoding: bytes) }
            let dictionary = outcome { try SendRequest(json: JSONValue.parse(bytes)) }
            #expect(typed == dictionary, "\(text)")
        }
        #expect(try SendRequest(decoding: Array(full.json.jsonString.utf8)) == full)
    }
}

@Suite("SHA-256 and HMAC-SHA256")
struct SHA256Tests {
    @Test("FIPS 180-4 and RFC 4231 vectors")
    func vectors() {
        #expect(Hashing.hex(Hashing.sha256(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Hashing.hex(Hashing.sha256([])) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(
            Hashing.hex(Hashing.sha256(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        // RFC 4231 test cases 2 and 6 (a key longer than the block).
        #expect(
            Hashing.hex(Hashing.hmacSHA256(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8)))
                == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        #expect(
            Hashing.hex(
                Hashing.hmacSHA256(key: [UInt8](repeating: 0xaa, count: 131), message: Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8)))
                == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
    }
}

@Suite("SHA-1, HMAC-SHA1 and Twilio's request signature")
struct TwilioSignatureTests {
    @Test("FIPS 180-4 and RFC 2202 vectors")
    func vectors() {
        #expect(Hashing.hex(Hashing.sha1(Array("abc".utf8))) == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(Hashing.hex(Hashing.sha1([])) == "da39a3ee5e6b4b0d3255bfef95601890afd80709")
        #expect(Hashing.hex(Hashing.sha1(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))) == "84983e441c3bd26ebaae4aa1f95129e5e54670f1")
        #expect(
            Hashing.hex(Hashing.hmacSHA1(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8)))
                == "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79")
        #expect(
            Hashing.hex(
                Hashing.hmacSHA1(key: [UInt8](repeating: 0xaa, count: 80), message: Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8)))
                == "aa4ae5e15272d00e95705637ce8a3b55ed402112")
    }

    @Test("Twilio's documented example signs to its documented value; any changed parameter fails")
    func twilioExample() {
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2"
        var params = ["CallSid": "CA1234567890ABCDE", "Caller": "+12349013030", "Digits": "1234", "From": "+12349013030", "To": "+18005551212"]
        #expect(TwilioSignature.compute(url: url, parameters: params, authToken: "12345") == "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
        #expect(TwilioSignature.matches("0/KCTR6DLpKmkAf8muzZqo1nDgQ=", url: url, parameters: params, authToken: "12345"))
        #expect(!TwilioSignature.matches("0/KCTR6DLpKmkAf8muzZqo1nDgQ=", url: url, parameters: params, authToken: "54321"))
        params["Digits"] = "1235"
        #expect(!TwilioSignature.matches("0/KCTR6DLpKmkAf8muzZqo1nDgQ=", url: url, parameters: params, authToken: "12345"))
    }
}

@Suite("Email tracking links")
struct EmailTrackingTests {
    @Test("http(s) links go through the signed redirect; mailto, anchors and kept links stay; the pixel goes before </body>")
    func instrument() {
        let html =
            ##"<html><body><a href="https://a.example/x?y=1&amp;z=2">A</a> <a href='http://b.example'>B</a> <a href="mailto:x@y.z">M</a> <a href="#top">T</a> <a href="https://u.example/unsub">U</a></body></html>"##
        let out = EmailTracking.instrument(
            html: html, base: "https://t.example", secret: "s", contactId: "c 1", messageId: "m:1", keep: ["https://u.example/unsub"])
        #expect(out.contains("href=\"https://t.example/v1/t/c?contact=c%201&amp;message=m%3A1&amp;url=https%3A%2F%2Fa.example%2Fx%3Fy%3D1%26z%3D2&amp;token="))
        #expect(out.contains("href='https://t.example/v1/t/c?") && out.contains("url=http%3A%2F%2Fb.example&amp;token="))
        #expect(out.contains(#"href="mailto:x@y.z""#) && out.contains(##"href="#top""##) && out.contains(#"href="https://u.example/unsub""#))
        #expect(
            out.hasSuffix(#"style="display:none"></body></html>"#)
                && out.contains("<img src=\"https://t.example/v1/t/o?contact=c%201&amp;message=m%3A1&amp;token="))
        let token = EmailTracking.clickToken(secret: "s", contactId: "c 1", messageId: "m:1", target: "https://a.example/x?y=1&z=2")
        #expect(EmailTracking.verifyClick(token, secret: "s", contactId: "c 1", messageId: "m:1", target: "https://a.example/x?y=1&z=2"))
        #expect(!EmailTracking.verifyClick(token, secret: "s", contactId: "c 1", messageId: "m:1", target: "https://evil.example"))
    }
}

@Suite("URL and form encoding")
struct URLEncodingTests {
    @Test("a form body round-trips UTF-8, spaces, & and =; only unreserved characters stay as they are")
    func form() {
        let body = URLEncoding.form([("Body", "Hi Věra, 50% off & more=yes"), ("To", "+420601234567")])
        #expect(body == "Body=Hi%20V%C4%9Bra%2C%2050%25%20off%20%26%20more%3Dyes&To=%2B420601234567")
        #expect(URLEncoding.parseForm(body) == ["Body": "Hi Věra, 50% off & more=yes", "To": "+420601234567"])
        #expect(URLEncoding.parseForm("MessageSid=SM1&MessageStatus=sent+ok") == ["MessageSid": "SM1", "MessageStatus": "sent ok"])
        #expect(URLEncoding.percentEncoded("a-b.c_d~e") == "a-b.c_d~e")
    }

    @Test("a message reference round-trips contact and send ids with &, =, spaces and UTF-8; one without both parts is nil")
    func messageReference() {
        let ref = MessageReference(contactId: "ann & co=1", sendId: "spring:Věra 7")
        #expect(ref.text == "c=ann%20%26%20co%3D1&m=spring%3AV%C4%9Bra%207")
        #expect(MessageReference(text: ref.text) == ref)
        #expect(MessageReference(text: "c=ann") == nil)
        #expect(MessageReference(text: "c=&m=x") == nil)
        #expect(MessageReference(text: "") == nil)
    }
}

@Suite("Provider status webhooks, as the providers send them")
struct ProviderStatusTests {
    @Test("WhatsApp: every status of every change, with its error and the reference the sender gave; entries without an id or a status are skipped")
    func whatsApp() throws {
        let reference = MessageReference(contactId: "c1", sendId: "welcome:c1:1")
        let body = try JSONValue.parse(
            string: """
                {"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"statuses":[
                  {"id":"wamid.A","status":"delivered","biz_opaque_callback_data":"\(reference.text)"},
                  {"id":"wamid.B","status":"failed","errors":[{"code":131049,"title":"limit"}]},
                  {"status":"read"},
                  {"id":"wamid.C"}
                ]}}]},{"changes":"not a list"}]}
                """)
        let statuses = ProviderStatus.whatsApp(body)
        #expect(
            statuses == [
                ProviderStatus(providerId: "wamid.A", reference: reference, status: "delivered", error: ""),
                ProviderStatus(providerId: "wamid.B", reference: nil, status: "failed", error: "WhatsApp 131049: limit"),
            ])
        #expect(statuses.map(\.state) == [.delivered, .sendingFailed])
        #expect(ProviderStatus.whatsApp(.array([.int(1)])).isEmpty)
    }

    @Test("Twilio: MessageSid and MessageStatus required; the callback's query names the message; queued and unknown words change nothing")
    func twilio() {
        let reference = MessageReference(contactId: "c2", sendId: "sms:c2:1")
        let s = ProviderStatus.twilio(form: ["MessageSid": "SM1", "MessageStatus": "undelivered", "ErrorCode": "30003"], query: reference.text)
        #expect(s == ProviderStatus(providerId: "SM1", reference: reference, status: "undelivered", error: "Twilio 30003"))
        #expect(s?.state == .sendingFailed)
        #expect(ProviderStatus.twilio(form: ["MessageSid": "SM1"], query: nil) == nil)
        #expect(ProviderStatus.twilio(form: ["MessageStatus": "sent"], query: nil) == nil)
        for word in ["queued", "accepted", "sending", "Delivered", ""] {
            #expect(ProviderStatus(providerId: "x", reference: nil, status: word, error: "").state == nil, "\(word)")
        }
    }
}

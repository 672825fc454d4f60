import HeraldCore
import Testing

@Suite("Link tokens, secret comparison, page addresses and the alert clock")
struct LinkTokenTests {
    let secret = "unsubscribe-secret"

    @Test("a token verifies for its own purpose and fields only")
    func purposes() {
        for purpose in LinkToken.Purpose.allCases {
            let token = LinkToken.sign(purpose, secret: secret, fields: ["c-1", "m-1", "https://shop.example/"])
            #expect(LinkToken.verify(token, purpose, secret: secret, fields: ["c-1", "m-1", "https://shop.example/"]))
            for other in LinkToken.Purpose.allCases where other != purpose {
                #expect(!LinkToken.verify(token, other, secret: secret, fields: ["c-1", "m-1", "https://shop.example/"]), "\(purpose) as \(other)")
            }
            #expect(!LinkToken.verify(token, purpose, secret: "other", fields: ["c-1", "m-1", "https://shop.example/"]))
            #expect(!LinkToken.verify(token, purpose, secret: secret, fields: ["c-2", "m-1", "https://shop.example/"]))
        }
        // Length prefixes: moving a boundary between fields changes the token.
        #expect(LinkToken.sign(.click, secret: secret, fields: ["ab", "c"]) != LinkToken.sign(.click, secret: secret, fields: ["a", "bc"]))
    }

    @Test("the open pixel's token, which anyone reading the email sees, does not unsubscribe")
    func openTokenDoesNotUnsubscribe() throws {
        let open = EmailTracking.openURL(base: "https://t.example", secret: secret, contactId: "c-1", messageId: "m-1")
        let token = try #require(open.split(separator: "token=").last.map(String.init))
        #expect(EmailTracking.verifyOpen(token, secret: secret, contactId: "c-1", messageId: "m-1"))
        #expect(!UnsubscribeLink.verify(token, secret: secret, contactId: "c-1", messageId: "m-1"))
        // The old attack: the open token was HMAC("c-1\nopen\nm-1"), the unsubscribe
        // token of message id "open\nm-1". An old-form open token must not do it either.
        let oldOpen = String(Hashing.hex(Hashing.hmacSHA256(key: Array(secret.utf8), message: Array("c-1\nopen\nm-1".utf8))).prefix(32))
        #expect(EmailTracking.verifyOpen(oldOpen, secret: secret, contactId: "c-1", messageId: "m-1"))
        #expect(!UnsubscribeLink.verify(oldOpen, secret: secret, contactId: "c-1", messageId: "open\nm-1"))
    }

    @Test("unsubscribe links in emails sent before purpose binding still work")
    func legacyUnsubscribe() {
        let old = String(Hashing.hex(Hashing.hmacSHA256(key: Array(secret.utf8), message: Array("c-1\nm-1".utf8))).prefix(32))
        #expect(UnsubscribeLink.verify(old, secret: secret, contactId: "c-1", messageId: "m-1"))
        #expect(!UnsubscribeLink.verify(old, secret: secret, contactId: "c-1", messageId: "m-2"))
        #expect(!EmailTracking.verifyOpen(old, secret: secret, contactId: "c-1", messageId: "m-1"))
    }

    @Test("secrets compare equal only when equal, whatever their lengths")
    func secretsEqual() {
        #expect(Hashing.secretsEqual("key-1", "key-1"))
        #expect(!Hashing.secretsEqual("key-1", "key-2"))
        #expect(!Hashing.secretsEqual("key-1", "key-10"))
        #expect(!Hashing.secretsEqual("", "key-1"))
        #expect(Hashing.secretsEqual("", ""))
    }

    @Test("a page address with user-info is not the shop's; a backslash ends the host as a browser ends it")
    func userInfo() {
        #expect(PageURL(#"https://evil.example\@shop.example/"#)?.host == "evil.example")
        #expect(PageURL("https://shop.example@evil.example/pricing") == nil)
        #expect(PageURL("https://user:pass@shop.example/pricing") == nil)
        let pricing = PagePattern("https://shop.example/**")!
        for forged in [#"https://evil.example\@shop.example/"#, "https://evil.example@shop.example/", #"evil.example\shop.example"#] {
            #expect(PageURL(forged).map(pricing.matches) != true, "\(forged)")
        }
        #expect(PageURL(#"https://shop.example\pricing"#) == PageURL("shop.example/pricing"))
        // Hosts as browsers report them, and nothing else (the fuzzer's find: tabs, quotes, two ports).
        for host in ["shop.example", "xn--sp-fka.example:8080", "[::1]:8443", "127.0.0.1", "my_host.example"] {
            #expect(PageURL("https://\(host)/x")?.host == host, "\(host)")
        }
        for bad in ["sh op.example", "shop.example:443s", "shop.example:80:443", #"shop".example"#, "shop\t.example", "[zz]", "shop.example:", "obchod.čz"] {
            #expect(PageURL("https://\(bad)/x") == nil, "\(bad)")
        }
    }

    @Test("a client timestamp further than five minutes from receipt is replaced by the receipt time")
    func alertClock() {
        let received: Int64 = 1_795_500_000_000
        func event(_ t: Int64) -> Event { Event(id: "e", type: "page_visited", contactId: "c", timestamp: t, receivedAt: received, properties: [:]) }
        #expect(AlertClock.time(of: event(received - 299_000)) == received - 299_000)
        #expect(AlertClock.time(of: event(received + 60_000)) == received + 60_000)
        #expect(AlertClock.time(of: event(received - 86_400_000)) == received)
        #expect(AlertClock.time(of: event(received + 86_400_000)) == received)
        #expect(AlertClock.time(of: event(.min)) == received)
        #expect(AlertClock.time(of: event(.max)) == received)
    }

    @Test("CSV cells: formula starts are neutralised, commas, quotes and line breaks quoted, plain values kept")
    func csvCells() {
        #expect(CSVCell.escape("Věra") == "Věra")
        #expect(CSVCell.escape("=1+2") == "'=1+2")
        #expect(CSVCell.escape("-2") == "'-2" && CSVCell.escape("@SUM(A1)") == "'@SUM(A1)" && CSVCell.escape("\tx") == "'\tx")
        #expect(CSVCell.escape("a,b") == "\"a,b\"" && CSVCell.escape("say \"hi\"") == "\"say \"\"hi\"\"\"")
        #expect(CSVCell.escape("line\r\nbreak") == "\"line\r\nbreak\"")
        #expect(CSVCell.escape("=A1,B1") == "\"'=A1,B1\"")
    }

    @Test("webhook addresses: public ones pass; loopback, private, link-local (metadata), CGNAT, ULA and mapped forms are refused unless allow-listed")
    func addressPolicy() throws {
        let policy = AddressPolicy()
        func bytes(_ s: String) throws -> [UInt8] { try #require(AddressPolicy.Network(s)).address }
        for ok in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "172.32.0.1", "192.169.0.1"] { #expect(policy.permits(try bytes(ok)), "\(ok)") }
        for bad in [
            "127.0.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
            "::1", "::", "fd00::1", "fe80::1", "::ffff:127.0.0.1".replacingOccurrences(of: "127.0.0.1", with: "7f00:1"), "::ffff:a9fe:a9fe", "224.0.0.1",
        ] {
            #expect(!policy.permits(try bytes(bad)), "\(bad)")
        }
        let listed = AddressPolicy(allowed: [try #require(AddressPolicy.Network("10.20.0.0/16"))])
        let (inside, outside) = (try bytes("10.20.3.4"), try bytes("10.21.0.1"))
        #expect(listed.permits(inside) && !listed.permits(outside))
        for malformed in ["10.0.0.0/33", "1.2.3", "1.2.3.4.5", "256.1.1.1", "fe80::1::2", "::/129", "x", "1.2.3.4/-1"] {
            #expect(AddressPolicy.Network(malformed) == nil, "\(malformed)")
        }
    }
}

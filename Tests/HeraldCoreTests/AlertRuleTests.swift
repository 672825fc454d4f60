import Foundation
import HeraldCore
import Testing

@Suite("Alert rules: page matching, periods, dwell, validation")
struct AlertRuleTests {
    func page(_ s: String) -> PageURL { PageURL(s)! }

    @Test("a page is the same whatever its scheme, case, query string, fragment, default port or trailing slash")
    func normalization() {
        let same = [
            "https://shop.example/pricing", "http://Shop.Example/Pricing/", "shop.example/pricing?utm_source=mail#plans", "https://shop.example:443/pricing//",
        ]
        for s in same { #expect(page(s) == page("shop.example/pricing"), "\(s)") }
        #expect(page("https://shop.example/pricing/team") != page("shop.example/pricing"))
        #expect(page("https://other.example/pricing") != page("shop.example/pricing"))
        #expect(PageURL("/pricing") == nil && PageURL("") == nil)
    }

    @Test("exact patterns match one page; /** covers the page and everything under it, not a sibling with the same prefix")
    func patterns() {
        let exact = PagePattern("https://shop.example/pricing")!
        #expect(exact.matches(page("shop.example/pricing/?x=1")))
        #expect(!exact.matches(page("shop.example/pricing/enterprise")))
        let tree = PagePattern("https://shop.example/products/**")!
        #expect(tree.coversSubpages)
        for s in ["shop.example/products", "shop.example/products/shoes", "shop.example/products/shoes/red?size=9"] { #expect(tree.matches(page(s)), "\(s)") }
        #expect(!tree.matches(page("shop.example/products-old")))
        #expect(!tree.matches(page("shop.example/")))
        #expect(PagePattern("https://shop.example/pro*ducts") == nil)
        #expect(PagePattern("https://shop.example/**")!.matches(page("shop.example/anything/at/all")))
    }

    func rule(_ yaml: String) throws(AlertRuleError) -> AlertRule { try AlertRule(json: try YAMLValue.parse(yaml)) }

    @Test("YAML integers, base 60 included, are read as YAML 1.1 reads them; one past Int stays text instead of stopping the process")
    func yamlIntegers() throws {
        let doc = try YAMLValue.parse(
            """
            a: 1:30
            b: -1:00:00
            c: 0x1F
            d: 1_000
            e: 9223372036854775807:08
            f: 1:00:00:00:00:00:00:00:00:00:00:00
            g: "1:30"
            """)
        #expect(doc["a"] == .int(90) && doc["b"] == .int(-3600) && doc["c"] == .int(31) && doc["d"] == .int(1000))
        #expect(doc["e"] == .string("9223372036854775807:08") && doc["f"] == .string("1:00:00:00:00:00:00:00:00:00:00:00"))
        #expect(doc["g"] == .string("1:30"))
    }

    @Test("the index finds every rule watching a page, with the smallest minimum time; disabled rules are left out")
    func index() throws {
        let a = try rule("name: A\npages: [{url: 'shop.example/products/**', min_time: 30s}, 'shop.example/products/shoes']\nrecipients: {cc: [a@x.example]}")
        let b = try rule("name: B\npages: ['shop.example/products/shoes']\nrecipients: {cc: [b@x.example]}")
        let c = try rule("name: C\nenabled: false\npages: ['shop.example/products/**']\nrecipients: {cc: [c@x.example]}")
        let index = AlertRuleIndex(rules: [a, b, c])
        let shoes = index.matches(page("https://shop.example/products/shoes?color=red"))
        #expect(shoes.map(\.rule.id) == ["a", "b"])
        #expect(shoes.first?.minTimeMs == 0)
        #expect(index.matches(page("shop.example/products/hats")).map { "\($0.rule.id):\($0.minTimeMs)" } == ["a:30000"])
        #expect(index.matches(page("shop.example/about")).isEmpty)
    }

    @Test("periods: local day, ISO week (Monday start) and month in the rule's time zone; boundaries move with the zone")
    func periods() throws {
        // 2026-11-22T23:30:00Z is Sunday 23:30 in London, Monday 00:30 in Warsaw.
        let t = try #require(RFC3339.parseMilliseconds("2026-11-22T23:30:00Z"))
        #expect(AlertPeriod.day.containing(t, timeZone: "Europe/London").key == "2026-11-22")
        #expect(AlertPeriod.day.containing(t, timeZone: "Europe/Warsaw").key == "2026-11-23")
        #expect(AlertPeriod.week.containing(t, timeZone: "Europe/London").key == "2026-W47")
        #expect(AlertPeriod.week.containing(t, timeZone: "Europe/Warsaw").key == "2026-W48")
        let monthEnd = try #require(RFC3339.parseMilliseconds("2026-11-30T23:30:00Z"))
        #expect(AlertPeriod.month.containing(monthEnd, timeZone: "UTC").key == "2026-11")
        #expect(AlertPeriod.month.containing(monthEnd, timeZone: "Europe/Warsaw").key == "2026-12")
        // The ISO year of a week can differ from the calendar year.
        #expect(AlertPeriod.week.containing(try #require(RFC3339.parseMilliseconds("2027-01-01T12:00:00Z")), timeZone: "UTC").key == "2026-W53")
        // A day ends at the next local midnight.
        let day = AlertPeriod.day.containing(t, timeZone: "Europe/Warsaw")
        #expect(day.endsAt == RFC3339.parseMilliseconds("2026-11-23T23:00:00Z"))
    }

    @Test("dwell: decided by the next view, by a leave, never by a timeout, a new session or a gap longer than the session")
    func dwell() throws {
        let visit = PageVisit(
            eventId: "v1", url: "shop.example/pricing", at: 1_000_000, session: "s1", acceptedAt: 1_000_010, waiting: ["long": 60_000, "short": 10_000])
        let timeout: Int64 = 30 * 60_000
        let next = visit.decide(.nextView(at: 1_030_000, session: "s1"), sessionTimeoutMs: timeout)
        #expect(next.reached == ["short"] && next.tooShort == ["long"] && next.dwellMs == 30_000)
        let left = visit.decide(.left(at: 1_090_000), sessionTimeoutMs: timeout)
        #expect(left.reached == ["long", "short"] && left.dwellMs == 90_000)
        #expect(visit.decide(.left(at: 1_005_000), sessionTimeoutMs: timeout).reached.isEmpty)  // closed early
        #expect(visit.decide(.timeout, sessionTimeoutMs: timeout).reached.isEmpty)
        #expect(visit.decide(.nextView(at: 1_090_000, session: "s2"), sessionTimeoutMs: timeout).reached.isEmpty)
        #expect(visit.decide(.nextView(at: 1_000_000 + timeout + 1, session: "s1"), sessionTimeoutMs: timeout).reached.isEmpty)
        #expect(try PageVisit(decoding: visit.json.serialized()) == visit)
    }

    @Test("a waiting visit's stored bytes are its sorted JSON, and read back with or without a session; anything else is not a visit")
    func visitBytes() throws {
        let visits = [
            PageVisit(
                eventId: "v\"1", url: "shop.example/pricing?q=ü", at: 1_000_000, session: "s1", acceptedAt: 1_000_010,
                waiting: ["long": 60_000, "short": 10_000]),
            PageVisit(eventId: "v2", url: "shop.example/", at: -5, session: nil, acceptedAt: 7, waiting: [:]),
        ]
        for visit in visits {
            #expect(visit.encoded() == visit.json.serialized())
            #expect(try PageVisit(decoding: visit.encoded()) == visit)
        }
        // Written before `accepted_at` existed: it falls back to the view's time.
        #expect(try PageVisit(decoding: Array(#"{"at":5,"event_id":"e","url":"u","waiting":{"r":1}}"#.utf8)).acceptedAt == 5)
        for bad in [
            #"{"at":5,"url":"u"}"#, #"{"at":"5","event_id":"e","url":"u"}"#, #"[1]"#, #"{"at":5,"event_id":"e","url":"u""#,
            #"{"at":5,"at":6,"event_id":"e","url":"u"}"#,
        ] {
            #expect((try? PageVisit(decoding: Array(bad.utf8))) == nil, "\(bad)")
        }
    }

    @Test("a full rule reads from YAML, round-trips through its stored JSON, and summarises what, how often, to whom and the attachment")
    func fullRule() throws {
        let r = try rule(
            """
            name: Pricing interest
            created_by: anna@shop.example
            time_zone: Europe/Warsaw
            pages:
              - url: https://shop.example/pricing
                min_time: 30s
              - https://shop.example/products/**
            frequency: 3 per week
            recipients: {me: true, owner: true, cc: 'boss@shop.example, team@shop.example'}
            description: The contact is reading prices.
            attachment: {filename: contact.csv, format: csv, template: "name,email\\n{{contact_name}},{{contact.email}}"}
            """)
        #expect(r.id == "pricing-interest" && r.enabled && r.frequency == .init(times: 3, per: .week))
        #expect(r.recipients.cc == ["boss@shop.example", "team@shop.example"])
        #expect(try AlertRule(json: r.json) == r)
        let s = r.summary
        for part in [
            "shop.example/pricing, after at least 30 s", "shop.example/products/** (and every page under it)", "at most 3 times a week",
            "me (anna@shop.example)", "the contact's owner", "CC boss@shop.example", "contact.csv (csv, rendered from a template)", "ON",
        ] {
            #expect(s.contains(part), "\(part) not in:\n\(s)")
        }
        #expect(try rule("name: x\npages: [a.example/b]\nfrequency: once a month\nrecipients: {cc: [a@b.example]}").frequencyText == "once a month")
    }

    @Test("invalid rules are refused with the field and the reason")
    func invalid() throws {
        let base = "name: R\npages: ['shop.example/p']\nrecipients: {cc: [a@b.example]}\n"
        let longCC = (0..<20).map { "person\($0)@company.example" }
        let cases: [(String, String)] = [
            ("pages: ['shop.example/p']\nrecipients: {cc: [a@b.example]}", "name"),
            ("name: R\nrecipients: {cc: [a@b.example]}", "pages"),
            ("name: R\npages: ['/nohost']\nrecipients: {cc: [a@b.example]}", "pages[0].url"),
            ("name: R\npages: [{url: 'shop.example/p', min_time: soon}]\nrecipients: {cc: [a@b.example]}", "pages[0].min_time"),
            (base + "frequency: twice a fortnight", "frequency"),
            (base + "frequency: {times: 0, per: day}", "frequency.times"),
            ("name: R\npages: ['shop.example/p']\nrecipients: {cc: [a@b.example, not-an-address]}", "recipients.cc[1]"),
            ("name: R\npages: ['shop.example/p']\nrecipients: {cc: [\(longCC.joined(separator: ", "))]}", "recipients.cc"),
            ("name: R\npages: ['shop.example/p']\nrecipients: {me: true}", "recipients.me"),
            ("name: R\npages: ['shop.example/p']\nrecipients: {}", "recipients"),
            (base + "time_zone: Mars/Olympus", "time_zone"),
            (base + "attachment: {format: pdf, content: x}", "attachment.format"),
            (base + "attachment: {format: csv}", "attachment"),
            (base + "attachment: {format: csv, template: '{{#open'}", "attachment.template"),
            (base + "colour: red", "colour"),
            (base + "id: 'Bad Id!'", "id"),
        ]
        for (yaml, field) in cases {
            do {
                _ = try rule(yaml)
                Issue.record("accepted: \(yaml)")
            } catch {
                #expect(error.field == field, "\(yaml) → \(error)")
                #expect(!error.reason.isEmpty)
            }
        }
        // The CC limit counts the addresses joined by ", ": 255 passes, 256 does not.
        let exactly255 = zip(["a", "b", "c", "d"], [64, 64, 64, 17]).map { String(repeating: $0, count: $1) + "@b.example" }
        #expect(exactly255.joined(separator: ", ").count == 255)
        #expect(throws: Never.self) { try rule("name: R\npages: ['shop.example/p']\nrecipients: {cc: [\(exactly255.joined(separator: ", "))]}") }
        let over = exactly255.dropLast() + ["e" + exactly255.last!]
        #expect(throws: AlertRuleError.self) { try rule("name: R\npages: ['shop.example/p']\nrecipients: {cc: [\(over.joined(separator: ", "))]}") }
    }

    @Test("an email with an attachment is multipart/mixed: the body, then the file, base64")
    func attachment() throws {
        var m = EmailMessage(
            from: try EmailAddress("herald@shop.example"), to: try EmailAddress("anna@shop.example"), subject: "Alert", text: "hi", html: "<p>hi</p>",
            sendId: "alert:1")
        m.attachments = [EmailAttachment(filename: "contact.csv", contentType: "text/csv; charset=utf-8", content: "name,email\nVěra,v@x.example\n")]
        let text = String(decoding: try m.rendered(), as: UTF8.self)
        #expect(text.contains("Content-Type: multipart/mixed;") && text.contains("Content-Type: multipart/alternative;"))
        #expect(text.contains("Content-Disposition: attachment; filename=\"contact.csv\""))
        #expect(text.contains(Data("name,email\nVěra,v@x.example\n".utf8).base64EncodedString()))
        m.attachments[0].filename = "evil\r\nBcc: x@y.example"
        #expect(throws: EmailMessageError.self) { try m.rendered() }
    }
}

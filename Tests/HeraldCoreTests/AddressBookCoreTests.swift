import Testing

@testable import HeraldCore

@Suite("Address book: filters, cursors and CSV rows")
struct AddressBookCoreTests {
    @Test(
        "a cursor reads back whatever the id holds",
        arguments: ["c-1", "žluťoučký kůň", "a.b.c", "with space,comma\"quote\n", String(repeating: "x", count: 256)])
    func cursorRoundTrip(id: String) throws {
        let c = AddressBookCursor(shard: 5, after: id)
        #expect(try AddressBookCursor(text: c.text, partitions: 8) == c)
        #expect(c.text.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) || $0 == 0x2E }, "URL-safe: \(c.text)")
        #expect(try AddressBookCursor(text: AddressBookCursor(shard: 0, after: nil).text, partitions: 1) == AddressBookCursor(shard: 0, after: nil))
    }

    @Test(
        "a cursor this API did not write is refused, naming the cursor",
        arguments: ["", "8.", "-1.", "x.", "1", "1.6", "1.zz", "1.ff", "99999999999.", "1.6" + String(repeating: "61", count: 300)])
    func badCursor(text: String) {
        #expect(throws: ContactFilterError.self) { try AddressBookCursor(text: text, partitions: 8) }
        do { _ = try AddressBookCursor(text: text, partitions: 8) } catch { #expect(error.parameter == "cursor") }
    }

    func profile(_ build: (inout ContactProfile) -> Void) -> ContactProfile {
        var p = ContactProfile(id: "ada")
        build(&p)
        return p
    }

    @Test("list, tag and where must all hold; conditions read the profile as campaigns do")
    func filters() throws {
        let vip = profile {
            $0.lists = ["newsletter"]
            $0.tags = ["vip"]
            $0.attributes = ["city": "Praha"]
            $0.email = "ada@example.com"
            $0.purchases = ["p1": 9_000, "p2": 1_000]
        }
        #expect(ContactFilter.everyone.matches(vip, now: 0))
        #expect(try ContactFilter(list: "newsletter", tag: "vip", where: nil).matches(vip, now: 0))
        #expect(try !ContactFilter(list: "newsletter", tag: "new", where: nil).matches(vip, now: 0))
        #expect(try ContactFilter(list: nil, tag: nil, where: #"{"attribute":"email","contains":"@example.com"}"#).matches(vip, now: 0), "JSON is YAML")
        #expect(try ContactFilter(list: nil, tag: nil, where: "{purchases: {within: 2s, count: {eq: 1}}}").matches(vip, now: 10_000))
        #expect(try !ContactFilter(list: nil, tag: nil, where: "{any: [{list: other}, {not: {tag: vip}}]}").matches(vip, now: 0))
    }

    @Test(
        "a filter that cannot be decided on profiles, or is not a condition, is refused naming the parameter",
        arguments: [
            ("where", "{event_property: total, gt: 5}", "need an event"),
            ("where", "{all: [{list: a}, {messages: {count: {gt: 1}}}]}", "messages conditions"),
            ("where", "{attribute: city, gte: 5}", "unknown operator 'gte'"),
            ("where", "{{{", "not valid YAML"),
            ("where", String(repeating: "a", count: 20_000), "longer than"),
            ("list", "", "1 to 256 bytes"),
        ])
    func refusals(parameter: String, text: String, reason: String) {
        do {
            _ = try ContactFilter(list: parameter == "list" ? text : nil, tag: nil, where: parameter == "where" ? text : nil)
            Issue.record("accepted \(text)")
        } catch {
            #expect(error.parameter == parameter && error.reason.contains(reason), "\(error)")
        }
    }

    @Test("CSV rows: the fixed columns and the attributes asked for, quoted where needed, formulas defused, phones kept")
    func csvRows() {
        let csv = ContactCSV(attributes: ["first_name", "score", "note", "missing"])
        var out = csv.header()
        let p = profile {
            $0.email = "ada@example.com"
            $0.phone = "+420601234567"
            $0.lists = ["b", "a"]
            $0.tags = ["vip"]
            $0.attributes = ["first_name": "Ada, \"the\" first", "score": -3, "note": "=HYPERLINK(\"http://x\")"]
        }
        csv.append(p, to: &out)
        let text = String(decoding: out, as: UTF8.self)
        #expect(
            text
                == "id,email,phone,timezone,language,owner,lists,tags,attributes.first_name,attributes.score,attributes.note,attributes.missing\r\n"
                + "ada,ada@example.com,+420601234567,,,,a|b,vip,\"Ada, \"\"the\"\" first\",-3,\"'=HYPERLINK(\"\"http://x\"\")\",\r\n")
        var cells: [UInt8] = []
        ContactCSV.field("+cmd", to: &cells)
        ContactCSV.field("@SUM(1)", to: &cells)
        ContactCSV.field("line\nbreak", to: &cells)
        #expect(String(decoding: cells, as: UTF8.self) == "'+cmd'@SUM(1)\"line\nbreak\"")
    }
}

@Suite("Contacts API changes as list and tag events")
struct MembershipEventsTests {
    func names(_ events: [Event]) -> [String] {
        events.map { "\($0.type) \($0.properties["list"]?.stringValue ?? $0.properties["tag"]?.stringValue ?? "")" }
    }

    @Test("PATCH adds, PUT replaces; only what changes is an event, marked with its source")
    func diff() {
        var before = ContactProfile(id: "ann")
        before.lists = ["a", "b"]
        before.tags = ["x"]
        before.updatedAt = 5
        var patch = ContactChange()
        patch.addLists = ["b", "c"]
        patch.addTags = ["x"]
        #expect(names(patch.membershipEvents(before: before, contactId: "ann", now: 9, source: "api")) == ["list_subscribed c"])
        var put = ContactChange()
        put.replace = true
        put.addLists = ["c"]
        let events = put.membershipEvents(before: before, contactId: "ann", now: 9, source: "import")
        #expect(names(events) == ["list_subscribed c", "list_unsubscribed a", "list_unsubscribed b", "tag_removed x"])
        #expect(events.allSatisfy { $0.properties["source"] == "import" && $0.contactId == "ann" && $0.timestamp == 9 })
        #expect(names(put.membershipEvents(before: nil, contactId: "new", now: 9, source: "api")) == ["list_subscribed c"])
    }

    @Test("a retry against the same profile makes the same ids; a changed profile or another contact, new ones")
    func ids() {
        var before = ContactProfile(id: "ann")
        before.updatedAt = 5
        var c = ContactChange()
        c.addLists = ["vip"]
        let first = c.membershipEvents(before: before, contactId: "ann", now: 9, source: "api").map(\.id)
        #expect(first == c.membershipEvents(before: before, contactId: "ann", now: 10, source: "api").map(\.id))
        before.updatedAt = 6
        #expect(first != c.membershipEvents(before: before, contactId: "ann", now: 9, source: "api").map(\.id))
        #expect(first != c.membershipEvents(before: before, contactId: "bob", now: 9, source: "api").map(\.id))
    }
}

@Suite("Segments in campaign conditions")
struct SegmentConditionTests {
    @Test("segments resolve to their conditions, nested ones too; an unknown or cyclic one holds for nobody")
    func resolving() throws {
        let segments: [String: Condition] = [
            "vip": .hasTag("vip"), "vip-prague": .all([.segment("vip"), .attribute("city", .eq("Praha"))]), "loop": .segment("loop"),
        ]
        #expect(Condition.segment("vip-prague").resolvingSegments(segments) == .all([.hasTag("vip"), .attribute("city", .eq("Praha"))]))
        #expect(Condition.not(.segment("nope")).resolvingSegments(segments) == .not(.segment("nope")))
        let ada = ContactSnapshot(id: "ada", attributes: ["city": "Praha"], tags: ["vip"])
        for (condition, expected) in [("vip-prague", true), ("nope", false), ("loop", false)] {
            #expect(
                ConditionEvaluator.evaluate(Condition.segment(condition).resolvingSegments(segments), contact: ada, event: [:], now: 0) == expected,
                "\(condition)")
        }
    }

    @Test("a campaign's audience, exits and splits resolve; the parser takes {segment: id} and refuses a bad id")
    func campaigns() throws {
        let yaml = """
            id: c
            list: l
            triggers:
              - purchase
            audience: {segment: vip}
            steps:
              - id: a
                split:
                  - when: {segment: vip}
                    next: b
                  - else: b
              - id: b
                end: true
            """
        let c = try CampaignParser.parse(yaml, file: "c.yaml").resolvingSegments(["vip": .hasTag("vip")])
        #expect(c.audience == .hasTag("vip"))
        guard case .split(let branches, _)? = c.steps["a"]?.kind else { Issue.record("no split"); return }
        #expect(branches.first?.when == .hasTag("vip"))
        #expect(throws: CampaignError.self) { try CampaignParser.parseCondition("{segment: Bad Id}", source: "t") }
    }
}

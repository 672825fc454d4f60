import HeraldCore
import Testing

/// Conditions over a contact's activity and purchase amounts: what the parser
/// takes and refuses, and what the evaluator decides at window boundaries.
@Suite("Activity and purchase-amount conditions")
struct ActivityConditionTests {
    static let day: Int64 = 86_400_000
    static let now: Int64 = 1_796_000_000_000

    func parse(_ text: String) throws -> Condition { try CampaignParser.parseCondition(text, source: "test") }

    @Test("events, opened, clicked and purchase amounts parse to the conditions they name")
    func parsing() throws {
        #expect(
            try parse("{events: {name: page_visited, within: 7d, count: {gt: 2}}}")
                == .activity(key: "page_visited", within: .seconds(7 * 86_400), count: .gt(2)))
        #expect(try parse("{opened: {within: 30d}}") == .activity(key: "email_opened", within: .seconds(30 * 86_400), count: .gt(0)))
        #expect(try parse("{clicked: {campaign: welcome, count: {eq: 0}}}") == .activity(key: "email_clicked|campaign:welcome", within: nil, count: .eq(0)))
        #expect(try parse("{opened: {category: promo, within: 1d}}") == .activity(key: "email_opened|category:promo", within: .seconds(86_400), count: .gt(0)))
        #expect(try parse("{purchases: {within: 30d, amount: {gt: 1000}}}") == .purchaseTotal(within: .seconds(30 * 86_400), amount: .gt(1000)))
        #expect(
            try parse("{purchases: {count: {gt: 1}, amount: {lt: 50.5}}}")
                == .all([.purchases(within: nil, count: .gt(1)), .purchaseTotal(within: nil, amount: .lt(50.5))]))
        #expect(try parse("{purchases: {count: {lt: 1000000000}}}") == .purchases(within: nil, count: .lt(1_000_000_000)))
    }

    @Test(
        "refused, naming what is wrong",
        arguments: [
            ("{events: {name: page_visited, count: {gt: 20}}}", "0 to 19"),
            ("{events: {name: page_visited, count: {gt: -1}}}", "0 to 19"),
            ("{events: {name: page_visited, count: {eq: 2.5}}}", "0 to 19"),
            ("{events: {name: '9lives', count: {gt: 1}}}", "not an event type"),
            ("{events: {name: page_visited}}", "needs count"),
            ("{opened: {campaign: a, category: b}}", "not both"),
            ("{opened: {within: 7d, template: x}}", "template"),
            ("{purchases: {within: 7d}}", "count or amount"),
            ("{purchases: {amount: {gt: 1}, value: 2}}", "value"),
            // Purchase and message counts are whole numbers up to a billion, not doubles.
            ("{purchases: {count: {gt: 1e23}}}", "0 to 1000000000"),
            ("{purchases: {count: {lt: 2.5}}}", "0 to 1000000000"),
            ("{purchases: {count: {eq: -1}}}", "0 to 1000000000"),
            ("{purchases: {count: {in: [1, 1000000001]}}}", "0 to 1000000000"),
            ("{messages: {count: {gt: 1.0e10}}}", "0 to 1000000000"),
            ("{messages: {count: {gt: '3'}}}", "0 to 1000000000"),
        ])
    func refusals(text: String, reason: String) {
        do {
            _ = try parse(text)
            Issue.record("accepted \(text)")
        } catch {
            #expect("\(error)".contains(reason), "\(text): \(error)")
        }
    }

    @Test("activity counts and purchase sums at window boundaries, and over dropped purchases without a window")
    func evaluation() throws {
        let contact = ContactSnapshot(
            id: "c", purchases: [Self.now - 40 * Self.day, Self.now - 7 * Self.day], olderPurchases: 3,
            purchaseTotals: [.init(at: Self.now - 40 * Self.day, total: 100), .init(at: Self.now - 7 * Self.day, total: 25.5)], olderPurchaseTotal: 1000,
            activity: [
                "page_visited": [Self.now - 8 * Self.day, Self.now - 7 * Self.day, Self.now - 1],
                "email_opened": [Self.now - 31 * Self.day], "email_opened|campaign:welcome": [Self.now - 31 * Self.day],
            ])
        func holds(_ text: String) throws -> Bool { ConditionEvaluator.evaluate(try parse(text), contact: contact, event: [:], now: Self.now) }
        // The window includes its start: an event exactly 7 days old is within 7d.
        #expect(try holds("{events: {name: page_visited, within: 7d, count: {eq: 2}}}"))
        #expect(try holds("{events: {name: page_visited, within: 8d, count: {gt: 2}}}"))
        #expect(try holds("{events: {name: page_visited, count: {eq: 3}}}"))
        #expect(try holds("{events: {name: cart_abandoned, count: {eq: 0}}}"), "never seen is zero")
        #expect(try !holds("{opened: {within: 30d}}") && holds("{opened: {within: 31d}}"))
        #expect(try holds("{opened: {campaign: welcome}}") && !holds("{opened: {campaign: other}}") && !holds("{clicked: {}}"))
        #expect(try holds("{purchases: {within: 7d, amount: {eq: 25.5}}}"))
        #expect(try holds("{purchases: {within: 40d, amount: {eq: 125.5}}}"))
        #expect(try holds("{purchases: {amount: {eq: 1125.5}, count: {eq: 5}}}"), "without a window, dropped purchases count and sum too")
        #expect(try !holds("{purchases: {within: 6d, amount: {gt: 0}}}"))
        // An address-book filter takes them: they are decided on the profile alone.
        #expect(throws: Never.self) { try ContactFilter(list: nil, tag: nil, where: "{all: [{opened: {within: 30d}}, {purchases: {amount: {gt: 10}}}]}") }
    }

    @Test("purchase amounts come from total, else value, as finite numbers; opens and clicks are kept by campaign and category too")
    func recording() {
        func purchase(_ properties: [String: JSONValue]) -> Double? {
            ContactInput.change(for: Event(id: "p", type: "purchase", contactId: "c", timestamp: 1, receivedAt: 1, properties: properties))?.purchaseTotal
        }
        #expect(purchase(["total": 99.5]) == 99.5 && purchase(["value": 10, "total": 20]) == 20 && purchase(["value": 10]) == 10)
        #expect(purchase(["total": "99.5"]) == nil && purchase(["total": 1e300]) == nil && purchase([:]) == nil)
        let open = Event(
            id: "o", type: "email_opened", contactId: "c", timestamp: 7, receivedAt: 7,
            properties: ["campaign": "welcome", "category": "promo", "template": "t"])
        #expect(ContactInput.change(for: open)?.activity?.keys == ["email_opened", "email_opened|campaign:welcome", "email_opened|category:promo"])
    }

    @Test("the types recorded come from every condition a campaign holds: audience, trigger and exit conditions, split branches")
    func recordedFromCampaigns() throws {
        let campaign = try CampaignParser.parse(
            """
            id: c
            list: l
            triggers:
              - daily: {at: "10:00", when: {events: {name: wishlist_added, count: {gt: 0}}}}
            exit:
              - event: purchase
                when: {clicked: {campaign: promo}}
            steps:
              - id: s
                split:
                  - when: {any: [{not: {events: {name: page_visited, count: {gt: 1}}}}, {opened: {}}]}
                    next: a
                  - when: {events: {name: review_written, count: {eq: 0}}}
                    next: a
              - id: a
                send: {channel: email, template: t}
            """, file: "c.yaml")
        #expect(campaign.conditions.count == 4)
        #expect(ContactActivity.recordedTypes(campaign.conditions) == ["email_opened", "email_clicked", "wishlist_added", "page_visited", "review_written"])
    }
}

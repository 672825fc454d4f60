import HeraldCore
import Testing

@Suite("Conditions on dates relative to now: within_last, older_than, anniversary_within")
struct RelativeDateTests {
    /// UTC milliseconds of a date and time.
    static func ms(_ text: String) -> Int64 { RFC3339.parseMilliseconds(text)! }

    func holds(_ yaml: String, _ attributes: [String: JSONValue], now: String, zone: String? = nil) throws -> Bool {
        let c = try CampaignParser.parseCondition(yaml, source: "t")
        return ConditionEvaluator.evaluate(c, contact: ContactSnapshot(id: "a", attributes: attributes, timeZone: zone), event: [:], now: Self.ms(now))
    }

    @Test("within_last and older_than at their boundaries, for dates and times")
    func lastAndOlder() throws {
        let now = "2026-12-06T12:00:00Z"
        #expect(try holds("{attribute: signed_up, within_last: 30d}", ["signed_up": "2026-11-07"], now: now))
        #expect(try !holds("{attribute: signed_up, within_last: 30d}", ["signed_up": "2026-11-06"], now: now))
        #expect(try !holds("{attribute: signed_up, within_last: 30d}", ["signed_up": "2026-12-07"], now: now), "the future is not the last 30 days")
        #expect(try holds("{attribute: seen, within_last: 2h}", ["seen": "2026-12-06T10:00:00Z"], now: now))
        #expect(try holds("{attribute: signed_up, older_than: 1w}", ["signed_up": "2026-11-29"], now: now))
        #expect(try !holds("{attribute: signed_up, older_than: 1w}", ["signed_up": "2026-11-30"], now: now))
        #expect(try !holds("{attribute: signed_up, older_than: 1w}", ["signed_up": 20261129], now: now), "a number is no date")
        #expect(try !holds("{attribute: signed_up, older_than: 1w}", [:], now: now))
        #expect(try holds("{not: {attribute: signed_up, older_than: 1w}}", [:], now: now))
    }

    @Test("anniversary_within: across the year's end, in the contact's time zone, and 29 February in other years")
    func anniversaries() throws {
        #expect(try holds("{attribute: birthday, anniversary_within: 7d}", ["birthday": "1990-01-02"], now: "2026-12-30T10:00:00Z"))
        #expect(try !holds("{attribute: birthday, anniversary_within: 7d}", ["birthday": "1990-01-06"], now: "2026-12-30T10:00:00Z"))
        #expect(try holds("{attribute: birthday, anniversary_within: 1d}", ["birthday": "1990-12-30"], now: "2026-12-30T10:00:00Z"), "today counts")
        // 23:30 UTC on 31 December is already 1 January in Prague.
        let late = "2026-12-31T23:30:00Z"
        #expect(try holds("{attribute: birthday, anniversary_within: 1d}", ["birthday": "1985-01-01"], now: late, zone: "Europe/Prague"))
        #expect(try !holds("{attribute: birthday, anniversary_within: 1d}", ["birthday": "1985-01-01"], now: late))
        #expect(try holds("{attribute: birthday, anniversary_within: 1d}", ["birthday": "2000-02-29"], now: "2027-02-28T08:00:00Z"))
        #expect(try holds("{attribute: birthday, anniversary_within: 1d}", ["birthday": "2000-02-29"], now: "2028-02-29T08:00:00Z"))
        #expect(try !holds("{attribute: birthday, anniversary_within: 1d}", ["birthday": "2000-02-29"], now: "2028-02-28T08:00:00Z"), "a leap year has the day")
    }

    @Test(
        "relative date operators are refused where they mean nothing, or with a bad period",
        arguments: [
            "{purchases: {count: {within_last: 2d}}}", "{event_property: at, older_than: 1d}", "{attribute: b, anniversary_within: 400d}",
            "{attribute: b, within_last: soon}", "{attribute: b, older_than: 0s}",
        ])
    func refusals(yaml: String) {
        #expect(throws: CampaignError.self) { try CampaignParser.parseCondition(yaml, source: "t") }
    }
}

import HeraldCore
import Testing

@Suite("Durations and time arithmetic from outside")
struct DurationTextTests {
    @Test(
        "the one grammar reads every unit",
        arguments: [
            ("250ms", Duration.milliseconds(250)), ("30s", .seconds(30)), ("15m", .seconds(900)), ("2h", .seconds(7200)),
            ("2d", .seconds(172_800)), ("1w", .seconds(604_800)), (" 3653d ", .seconds(3653 * 86_400)),
        ])
    func units(text: String, expected: Duration) throws {
        #expect(try DurationText.parse(text) == expected)
    }

    @Test("malformed durations name themselves as such", arguments: ["", "w", "1y", "-1d", "+1d", "1.5h", "1 h", "١d", "ms", "1mss"])
    func malformed(text: String) {
        #expect(throws: DurationText.Failure.notADuration) { try DurationText.parse(text) }
    }

    @Test(
        "durations past ten years are refused, however many digits",
        arguments: [
            "3654d", "523w", "99999999999999w", "9223372036854775807ms", "9223372036854775808s", String(repeating: "9", count: 400) + "h",
        ])
    func tooLong(text: String) {
        #expect(throws: DurationText.Failure.tooLong(maximum: DurationText.maximum)) { try DurationText.parse(text) }
    }

    @Test("a caller's bound is kept, and the error names it")
    func callerBound() {
        #expect(throws: DurationText.Failure.tooLong(maximum: .seconds(86_400))) { try DurationText.parse("25h", maximum: .seconds(86_400)) }
        #expect(DurationText.format(.seconds(86_400)) == "1d")
        #expect(DurationText.format(DurationText.maximum) == "3653d")
        #expect(DurationText.format(.milliseconds(1500)) == "1500ms")
    }

    @Test("time arithmetic clamps instead of trapping")
    func clamped() {
        #expect(Int64.max.addingClamped(1) == .max)
        #expect(Int64.min.addingClamped(-1) == .min)
        #expect(Int64.min.subtractingClamped(1) == .min)
        #expect(Int64.max.subtractingClamped(-1) == .max)
        #expect(Int64(5).addingClamped(-7) == -2)
        #expect(Duration.seconds(Int64.max).milliseconds == .max)
        #expect(Duration.seconds(Int64.min).milliseconds == .min)
    }

    @Test("a campaign wait past the maximum is refused with its line, not a trap")
    func campaignWait() throws {
        let yaml = """
            id: long-wait
            name: Long wait
            list: newsletter
            triggers: [{event: signup}]
            steps:
              - id: w
                wait: 99999999999999w
                next: s
              - id: s
                send: {channel: email, template: welcome}
            """
        do {
            _ = try CampaignParser.parse(yaml, file: "long-wait.yaml")
            Issue.record("a 99999999999999w wait was accepted")
        } catch {
            #expect(error.line == 7)
            #expect(error.reason.contains("longer than the maximum of 3653d"))
        }
    }

    @Test("a campaign `within` past the maximum is refused")
    func campaignWithin() {
        let yaml = """
            id: long-within
            name: Long within
            list: newsletter
            triggers: [{event: signup}]
            audience: {purchases: {within: 9223372036854775807ms, count: {gt: 0}}}
            steps:
              - id: s
                send: {channel: email, template: welcome}
            """
        do {
            _ = try CampaignParser.parse(yaml, file: "long-within.yaml")
            Issue.record("a within of Int64.max milliseconds was accepted")
        } catch {
            #expect(error.reason.contains("within '9223372036854775807ms' is longer than the maximum"))
        }
    }

    @Test("a journey whose stored wake-up is the last millisecond wakes without a trap")
    func journeyAtTheEndOfTime() throws {
        let yaml = """
            id: end-of-time
            name: End of time
            list: newsletter
            triggers: [{event: signup}]
            steps:
              - id: w
                wait: 3653d
                next: s
              - id: s
                send: {channel: email, template: welcome}
            """
        let engine = JourneyEngine(campaign: try CampaignParser.parse(yaml, file: "e.yaml"), version: 1)
        let contact = ContactSnapshot(id: "c-1")
        // A clock far in the future (or a damaged stored time) must clamp, not trap.
        let entered = engine.enter(id: "j-1", contact: contact, triggerEvent: [:], now: .max - 10)
        #expect(entered.instance.status == .waiting(until: .max))
        let woken = engine.wakeUp(entered.instance, contact: contact, now: .max)
        #expect(woken.effects.contains { if case .send = $0 { true } else { false } })
    }

    @Test("backoff doubles from its base and stops at its cap, whatever the count")
    func backoff() {
        #expect(Backoff.delay(1, base: .milliseconds(500), cap: .seconds(30)) == .milliseconds(500))
        #expect(Backoff.delay(2, base: .milliseconds(500), cap: .seconds(30)) == .seconds(1))
        #expect(Backoff.delay(4, base: .milliseconds(500), cap: .seconds(30)) == .seconds(4))
        #expect(Backoff.delay(7, base: .milliseconds(500), cap: .seconds(30)) == .seconds(30))
        #expect(Backoff.delay(.max, base: .milliseconds(200), cap: .seconds(10)) == .seconds(10))
        #expect(Backoff.delay(0, base: .milliseconds(200), cap: .seconds(10)) == .milliseconds(200))
    }
}

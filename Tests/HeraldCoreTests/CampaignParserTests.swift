import Foundation
import HeraldCore
import Testing

@Suite("Campaign format")
struct CampaignParserTests {
    static let examplesDirectory: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.appendingPathComponent("config/campaigns").path
    }()

    static let examples = [
        "welcome-prospects", "welcome-customers", "abandoned-cart", "post-purchase-multilingual", "frequency-control", "birthday", "free-trial-day3",
        "cart-15-minutes", "weekday-window",
    ]

    @Test("every example campaign in config/campaigns is valid", arguments: examples)
    func examplesAreValid(name: String) throws {
        let path = "\(Self.examplesDirectory)/\(name).yaml"
        let campaign = try CampaignParser.parse(try String(contentsOfFile: path, encoding: .utf8), file: path)
        #expect(campaign.id == name)
    }

    @Test("the abandoned-cart example reads as the seed describes it")
    func abandonedCart() throws {
        let path = "\(Self.examplesDirectory)/abandoned-cart.yaml"
        let c = try CampaignParser.parse(try String(contentsOfFile: path, encoding: .utf8), file: path)
        #expect(c.entry == .afterExit)
        #expect(c.triggers == [.event(name: "cart_abandoned", when: nil)])
        #expect(c.exits.map(\.event) == ["purchase"])
        #expect(c.start == "wait-2h")
        #expect(c.steps["wait-2h"]?.kind == .wait(.seconds(7200)))
        guard case .split(let branches, let otherwise)? = c.steps["design"]?.kind else { Issue.record("design is not a split"); return }
        #expect(branches.map(\.when) == [.attribute("gender", .eq("female")), .attribute("gender", .eq("male"))])
        #expect(otherwise == "send-neutral")
        #expect(c.steps["reminder"]?.kind == .send(SendStep(channel: .email, template: "cart-reminder", category: "cart")))
    }

    @Test("conditions, triggers and wait-until parse into their model")
    func model() throws {
        let yaml = """
            id: model
            list: l
            triggers:
              - anniversary: {attribute: birthday, at: "08:30"}
              - daily: {at: "10:00", when: {not: {tag: vip}}}
              - tag_added: vip
              - page_visited: ["https://a.example/x/**"]
            audience:
              any:
                - {attribute: city, in: [Paris, Lyon]}
                - list: newsletter
                - purchases: {within: 30d, count: {gt: 2}}
            steps:
              - id: w
                wait_until: {time: "09:00", days: [mon, fri], window: "08:00-18:00"}
                next: ab
              - id: ab
                random_split:
                  - {percent: 30, next: a}
                  - {percent: 70, next: b}
              - id: a
                update_contact: {score: 5, segment: gold}
              - id: b
                webhook: {url: "https://hooks.example/x"}
            """
        let c = try CampaignParser.parse(yaml, file: "model.yaml")
        #expect(c.triggers[0] == .anniversary(attribute: "birthday", at: TimeOfDay(hour: 8, minute: 30)))
        #expect(c.triggers[1] == .daily(at: TimeOfDay(hour: 10, minute: 0), when: .not(.hasTag("vip"))))
        #expect(c.triggers[3] == .pageVisited(urls: ["https://a.example/x/**"]))
        #expect(
            c.audience == .any([.attribute("city", .in(["Paris", "Lyon"])), .inList("newsletter"), .purchases(within: .seconds(30 * 86_400), count: .gt(2))]))
        #expect(
            c.steps["w"]?.kind
                == .waitUntil(
                    WaitUntil(time: TimeOfDay(hour: 9, minute: 0), days: [.mon, .fri], window: TimeOfDay(hour: 8, minute: 0)...TimeOfDay(hour: 18, minute: 0))))
        #expect(c.steps["ab"]?.kind == .randomSplit([RandomBranch(percent: 30, next: "a"), RandomBranch(percent: 70, next: "b")]))
        #expect(c.steps["a"]?.kind == .updateContact(["score": 5, "segment": "gold"]))
    }

    @Test("a contact update's base-60 value past Int is read as a double, as YAML 1.1 allows, not a trap (the API publishes campaigns)")
    func baseSixtyPastInt() throws {
        let c = try CampaignParser.parse(Self.base + "  - id: a\n    update_contact: {code: 9223372036854775807:08, short: 1:30}\n", file: "b.yaml")
        #expect(c.steps["a"]?.kind == .updateContact(["code": .double(Double(Int64.max) * 60 + 8), "short": 90]))
    }

    static let base = "id: bad\nlist: l\ntriggers:\n  - purchase\nsteps:\n"

    @Test(
        "invalid campaigns are refused with the line and the reason",
        arguments: [
            ("  - id: a\n    sned: {channel: email, template: t}\n", 7, "unknown step kind 'sned'"),
            ("  - id: a\n    wait: 2h\n    next: b\n", 6, "leads to unknown step 'b'"),
            ("  - id: a\n    end: true\n  - id: b\n    wait: 1h\n", 8, "step 'b' is unreachable"),
            ("  - id: a\n    add_tag: x\n    next: b\n  - id: b\n    remove_tag: x\n    next: a\n", 6, "cycle without a wait"),
            ("  - id: a\n    split:\n      - when: {attribute: age, gte: 18}\n        next: a\n", 8, "unknown operator 'gte'"),
            ("  - id: a\n    wait: two hours\n", 7, "'two hours' is not a duration"),
            ("  - id: a\n    wait_until: {window: \"17:00-09:00\"}\n", 7, "window '17:00-09:00'"),
            ("  - id: a\n    random_split:\n      - {percent: 50, next: a}\n      - {percent: 40, next: a}\n", 8, "add up to 90"),
            ("  - id: a\n    send: {channel: fax, template: t}\n", 7, "channel 'fax'"),
            ("  - id: a\n    send: {channel: email, template: t, account: sales}\n", 7, "only whatsapp send steps choose an account"),
            ("  - id: a\n    send: {channel: whatsapp, template: t, account: ../../etc}\n", 7, "an account name is 1 to 64"),
            ("  - id: a\n    send: {channel: sms, template: t, language: cs}\n", 7, "only whatsapp send steps choose a language"),
            ("  - id: a\n    send: {channel: whatsapp, template: t, language: \"c s\"}\n", 7, "a language code is 2 to 15 letters"),
            ("  - id: a\n    end: true\n  - id: a\n    end: true\n", 8, "duplicate step id 'a'"),
        ])
    func refused(steps: String, line: Int, reason: String) {
        do {
            _ = try CampaignParser.parse(Self.base + steps, file: "bad.yaml")
            Issue.record("expected the campaign to be refused: \(reason)")
        } catch {
            #expect(error.file == "bad.yaml")
            #expect(error.line == line, "\(error)")
            #expect(error.reason.contains(reason), "\(error)")
        }
    }

    @Test("a WhatsApp send step may name the account (phone number) it sends from and the template's language; without them, the defaults")
    func sendAccount() throws {
        let c = try CampaignParser.parse(
            Self.base
                + "  - id: a\n    send: {channel: whatsapp, template: t, account: sales-cz}\n    next: b\n  - id: b\n    send: {channel: whatsapp, template: t}\n",
            file: "ok.yaml")
        #expect(c.steps["a"]?.kind == .send(SendStep(channel: .whatsapp, template: "t", account: "sales-cz")))
        #expect(c.steps["b"]?.kind == .send(SendStep(channel: .whatsapp, template: "t")))
        let cz = try CampaignParser.parse(
            Self.base + "  - id: a\n    send: {channel: whatsapp, template: t, account: sales-cz, language: cs}\n", file: "ok.yaml")
        #expect(cz.steps["a"]?.kind == .send(SendStep(channel: .whatsapp, template: "t", account: "sales-cz", language: "cs")), "and the language")
    }

    @Test("a cycle through a wait is allowed")
    func cycleWithWait() throws {
        let c = try CampaignParser.parse(Self.base + "  - id: a\n    add_tag: x\n    next: b\n  - id: b\n    wait: 1d\n    next: a\n", file: "ok.yaml")
        #expect(c.steps.count == 2)
    }

    @Test(
        "top-level mistakes name their line",
        arguments: [
            ("id: x\nlist: l\ntriggers:\n  - purchase\nentry: twice\nsteps:\n  - id: a\n    end: true\n", 5, "entry 'twice'"),
            ("id: x\nlist: l\ntriggers:\n  - bought\nsteps:\n  - id: a\n    end: true\n", 4, "unknown trigger 'bought'"),
            ("id: x\nlist: l\ntimezone: Mars/Olympus\ntriggers:\n  - purchase\nsteps:\n  - id: a\n    end: true\n", 3, "not an IANA time zone"),
            ("id: x\nlist: l\ntriggers:\n  - purchase\nsteps:\n  - id: a\n    end: true\ncolour: red\n", 8, "unknown field 'colour'"),
            ("id: x\ntriggers: [purchase]\nsteps:\n  - id: a\n    end: true\n", 1, "list is required"),
            ("id: x\nlist: [unclosed\n", 3, "not valid YAML"),
        ])
    func topLevel(yaml: String, line: Int, reason: String) {
        do {
            _ = try CampaignParser.parse(yaml, file: "top.yaml")
            Issue.record("expected refusal: \(reason)")
        } catch {
            #expect(error.line == line, "\(error)")
            #expect(error.reason.contains(reason), "\(error)")
        }
    }
}

import HeraldCore
import Testing

@Suite("Campaign report counters: one form for the scheduler's saves and the API's report")
struct CampaignReportTests {
    func instance(_ id: String, campaign: String = "c", version: Int = 1, status: JourneyStatus, visits: [String: Int], isTest: Bool = false) -> JourneyInstance
    {
        var i = JourneyInstance(id: id, campaignId: campaign, version: version, contactId: "ada", triggerEvent: [:], stepId: "s", enteredAt: 0, isTest: isTest)
        i.status = status
        i.visits = visits
        return i
    }

    @Test("every counter is written as a hash field and read back as itself; unknown fields are left out")
    func fields() {
        let counters: [CampaignReport.Counter] = [
            .entered, .completed, .exited("exit_event"), .step("wait"), .step("a:b"), .version(3, .entered), .version(12, .completed), .version(1, .exited),
        ]
        for c in counters { #expect(CampaignReport.Counter(field: c.field) == c, "\(c.field)") }
        #expect(CampaignReport.Counter.version(2, .exited).field == "v2:exited")
        #expect(CampaignReport.Counter.exited("audience").field == "exited:audience")
        for unknown in ["", "v1:visited", "vx:entered", "v:entered", "visits", "exited"] {
            #expect(CampaignReport.Counter(field: unknown) == nil, "\(unknown)")
        }
        let read = CampaignReport(fields: ["entered": 4, "v1:entered": 4, "step:w": 2, "later:field": 9])
        #expect(read.counts == [.entered: 4, .version(1, .entered): 4, .step("w"): 2])
        #expect(read.fields == ["entered": 4, "v1:entered": 4, "step:w": 2])
    }

    @Test("a save adds entries, endings and step runs once, by what changed since the previous state; test journeys are left out")
    func delta() {
        let entered = Transition(instance: instance("j1", status: .waiting(until: 10), visits: ["first": 1, "wait": 1]), effects: [])
        let first = CampaignReport.delta(of: [entered], previous: [])
        #expect(first["c"]?.counts == [.entered: 1, .version(1, .entered): 1, .step("first"): 1, .step("wait"): 1])

        // Woken: the same instance runs one more step and completes.
        let done = Transition(instance: instance("j1", status: .completed(at: 20), visits: ["first": 1, "wait": 1, "reminder": 1]), effects: [])
        let second = CampaignReport.delta(of: [done], previous: [entered.instance])
        #expect(second["c"]?.counts == [.step("reminder"): 1, .completed: 1, .version(1, .completed): 1])
        // Already ended before: ending again counts nothing.
        #expect(CampaignReport.delta(of: [done], previous: [done.instance])["c"]?.counts == [:])

        let exited = Transition(instance: instance("j2", campaign: "d", version: 2, status: .exited(reason: .exitEvent, at: 5), visits: [:]), effects: [])
        let test = Transition(instance: instance("j3", status: .completed(at: 5), visits: ["first": 1], isTest: true), effects: [])
        let both = CampaignReport.delta(of: [exited, test], previous: [])
        #expect(both["d"]?.counts == [.entered: 1, .version(2, .entered): 1, .exited("exit_event"): 1, .version(2, .exited): 1])
        #expect(both["c"] == nil)
    }

    @Test("the API's report: totals, active = entered − completed − exited, exits by reason, steps, versions")
    func json() {
        var report = CampaignReport(fields: [
            "entered": 10, "completed": 3, "exited:audience": 2, "exited:exit_event": 1, "step:w": 9, "v1:entered": 6, "v2:entered": 4,
        ])
        report.add(CampaignReport(fields: ["entered": 1, "v2:entered": 1]))
        let json = report.json(campaignId: "cart")
        #expect(json["campaign_id"] == "cart" && json["entered"] == .int(11) && json["completed"] == .int(3) && json["active"] == .int(5))
        #expect(json["exited"] == ["audience": .int(2), "exit_event": .int(1)])
        #expect(json["steps"] == ["w": .int(9)])
        #expect(json["versions"] == ["1": ["entered": .int(6)], "2": ["entered": .int(5)]])
    }
}

import HeraldCore
import Synchronization
import Testing

@testable import HeraldRedis
@testable import HeraldScheduler

/// The scheduler's decisions that need neither Kafka nor Redis: how a batch is
/// split by contact, and which campaigns have journeys to end now.
@Suite("Scheduler: per-contact order and retirements, without Kafka or Redis")
struct SchedulerPureTests {
    /// Counts what runs at once, and what each contact saw in which order.
    final class Trace: Sendable {
        let state = Mutex<(running: Int, most: Int, seen: [String: [Int]])>((0, 0, [:]))
        func begin(_ contact: String, _ n: Int) {
            state.withLock {
                $0.running += 1
                $0.most = max($0.most, $0.running)
                $0.seen[contact, default: []].append(n)
            }
        }
        func end() { state.withLock { $0.running -= 1 } }
    }

    @Test("PerContact: every item once, each contact's items in their order, never more contacts at once than asked")
    func perContactOrder() async throws {
        // 40 contacts, 10 items each, interleaved as a batch from Kafka would be.
        let items = (0..<400).map { (contact: "c\($0 % 40)", n: $0) }
        let trace = Trace()
        try await PerContact.forEach(items, concurrency: 4, contact: \.contact) { item in
            trace.begin(item.contact, item.n)
            try await Task.sleep(for: .microseconds(200))
            trace.end()
        }
        let (_, most, seen) = trace.state.withLock { $0 }
        #expect(most <= 4 && most >= 2, "at most 4 contacts at once, and more than one: \(most)")
        #expect(seen.count == 40)
        for (contact, ns) in seen {
            #expect(ns == ns.sorted() && ns.count == 10, "\(contact): \(ns)")
        }
    }

    @Test("PerContact: a failing item stops its contact's later items and the error reaches the caller")
    func perContactFailure() async {
        struct Boom: Error {}
        let trace = Trace()
        let items = [("a", 1), ("a", 2), ("a", 3), ("b", 4)]
        await #expect(throws: Boom.self) {
            try await PerContact.forEach(items, concurrency: 1, contact: \.0) { item in
                trace.begin(item.0, item.1)
                trace.end()
                if item.1 == 2 { throw Boom() }
            }
        }
        #expect(trace.state.withLock { $0.seen["a"] } == [1, 2], "item 3 of the failing contact never ran")
    }

    @Test("wake-ups grouped by contact: contacts in the order of their first wake-up, each contact's in due order")
    func dueByContact() {
        let batch: [JourneyProcessor.Due] = [
            .init(contactId: "b", instanceId: "i1", due: 10), .init(contactId: "a", instanceId: "i2", due: 11),
            .init(contactId: "b", instanceId: "i3", due: 12), .init(contactId: "c", instanceId: "i4", due: 13),
            .init(contactId: "a", instanceId: "i5", due: 14),
        ]
        let (order, dues) = JourneyProcessor.Due.byContact(batch)
        #expect(order == ["b", "a", "c"])
        #expect(dues["b"]?.map(\.instanceId) == ["i1", "i3"])
        #expect(dues["a"]?.map(\.instanceId) == ["i2", "i5"])
        #expect(dues["c"]?.map(\.due) == [13])
    }

    @Test("retirements: a stopped campaign, and the versions retired with `now` (sorted, so the tag is stable); drained versions are not swept")
    func retirements() {
        func entry(_ state: CampaignStore.State, _ retired: [Int: CampaignStore.RetireMode]) -> CampaignCatalog.Entry {
            .init(state: state, publishedVersion: 3, engines: [:], retired: retired)
        }
        let tags = RetirementSweeper.retirements([
            "stopped": entry(.stopped, [1: .drain]),
            "two-now": entry(.active, [2: .now, 1: .now, 4: .drain]),
            "drained": entry(.active, [1: .drain]),
            "plain": entry(.active, [:]),
        ])
        #expect(tags == ["stopped": "stopped", "two-now": "now:1,2"])
    }
}

/// What a send step becomes on `herald.sends`.
@Suite("Scheduler: send records")
struct SendRecordTests {
    @Test("a send step's channel, template, category, account and language reach the send request, keyed by the contact")
    func sendStepToRecord() throws {
        let i = JourneyInstance(
            id: "j1", campaignId: "welcome", version: 2, contactId: "ada", triggerEvent: ["type": "purchase"], stepId: "wa", enteredAt: 1_000)
        let record = JourneyProcessor.sendRecord(
            i, SendStep(channel: .whatsapp, template: "order-update", category: "transactional", account: "sales", language: "cs"), key: "j1:wa:1",
            now: 5_000)
        #expect(record.topic == Topics.sends && record.key == "ada")
        let request = try SendRequest(decoding: record.value)
        #expect(request.id == "j1:wa:1" && request.channel == .whatsapp && request.template == "order-update" && request.category == "transactional")
        #expect(request.account == "sales" && request.campaignId == "welcome" && request.version == 2 && request.createdAtMs == 5_000)
        #expect(request.language == "cs")
        #expect(request.event == ["type": "purchase"])
        let defaultAccount = try SendRequest(decoding: JourneyProcessor.sendRecord(i, SendStep(channel: .email, template: "t"), key: "k", now: 1).value)
        #expect(defaultAccount.account == "" && defaultAccount.language == "")
    }
}

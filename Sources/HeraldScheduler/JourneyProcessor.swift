import Foundation
import HeraldCore
import HeraldKafka
import HeraldRedis
import Logging
import Prometheus

/// Runs journey transitions for one contact at a time: loads the contact and its
/// journeys, asks the pure `JourneyEngine`, performs the effects (sends to
/// `herald.sends`, events to `herald.events.raw`, notes to the profile), then saves
/// the journeys and their wake-ups in one fenced Lua call.
///
/// Effects go out before the save: after a crash in between, the replay computes
/// the same transition (the engine is deterministic) and re-sends the same records
/// with the same idempotency keys and event ids, which the sender and the ingestor
/// deduplicate. Nothing is lost; nothing is done twice.
struct JourneyProcessor: Sendable {
    let catalog: CampaignCatalog
    let contacts: ContactStore
    let journeys: JourneyStore
    let ownership: ShardOwnership
    let locks = ContactLocks()
    let producer: KafkaProducer
    /// Where stored journeys that cannot be read go, with their bytes.
    let deadLetters: DeadLetterQueue
    let logger: Logger
    let metrics: SchedulerMetrics
    /// Test journeys wait this long instead of their real waits.
    let testWait: Duration

    /// The wall clock that decides what is due (injected; `.system` in production).
    var clock = WallClock.system

    /// Loads contacts of one shard for transitions. A stored journey that cannot
    /// be read is left out, logged at error level, and moved out of the way: its
    /// bytes go to `herald.dlq` (source `redis`, the key and the instance id in
    /// headers) and, once the dead letter is acknowledged, a fenced save deletes it
    /// and its wake-up. Without the move every later load of the contact would
    /// report it again; without the dead letter its bytes would be lost.
    /// - Throws: what the dead-letter produce or the fenced delete throws; the
    ///   damaged journey then stays for the next try.
    private func load(_ contactIds: [String], shard: Int, epoch: Int64) async throws -> [JourneyStore.Loaded] {
        let loaded = try await journeys.load(contactIds, contacts: contacts)
        var moved: [JourneySave] = []
        var orphans: [(contactId: String, instanceId: String)] = []
        var letters: [(key: String, redisKey: String, field: String, bytes: [UInt8], message: String)] = []
        for (contactId, l) in zip(contactIds, loaded) where !l.damaged.isEmpty {
            metrics.unreadableJourneys.increment(by: Int64(l.undecodable))
            logger.error(
                "scheduler moves stored journeys it cannot read (damaged in Redis) to herald.dlq",
                metadata: [
                    "herald.contact_id": "\(contactId)", "herald.count": "\(l.undecodable)", "herald.instances": "\(l.damaged.map(\.instanceId))",
                ])
            letters += l.damaged.map { (contactId, $0.key, $0.instanceId, $0.bytes, "stored journey \($0.instanceId) of \(contactId) is not a journey") }
            moved.append(JourneySave(contactId: contactId, instances: [], deletes: l.damaged.map(\.instanceId)))
            orphans += l.damaged.map { (contactId, $0.instanceId) }
        }
        guard !moved.isEmpty else { return loaded }
        try await deadLetters.send(stored: letters)
        do {
            try await journeys.save(moved, shard: shard, epoch: epoch, orphans: orphans)
        } catch JourneyStoreError.fenced {
            throw ownership.fenced(shard: shard, failed: epoch)
        }
        return loaded
    }

    private func load(_ contactId: String, epoch: Int64) async throws -> JourneyStore.Loaded {
        try await load([contactId], shard: journeys.shard(of: contactId), epoch: epoch)[0]
    }

    // MARK: Commands

    func handle(_ command: JourneyCommand) async throws {
        try await locks.withLock(command.contactId) { try await handleLocked(command) }
    }

    private func handleLocked(_ command: JourneyCommand) async throws {
        guard case .event(let event) = command else {
            if case .enter(let campaignId, let contactId, let id, let isTest) = command {
                try await enterLocked(campaignId: campaignId, contactId: contactId, id: id, isTest: isTest)
            }
            return
        }
        let contactId = command.contactId
        let epoch = try await ownership.epoch(for: journeys.shard(of: contactId))
        let campaigns = try await catalog.entries()
        let loaded = try await load(contactId, epoch: epoch)
        let existing = loaded.journeys
        let contact = (loaded.profile ?? ContactProfile(id: contactId)).snapshot(messages: loaded.messages)
        // The transition's time is the event's receipt, not the clock: a replay of
        // this record (after a failed save) computes the same waits and windows.
        let now = event.receivedAt > 0 ? event.receivedAt : clock.now()
        var changed: [Transition] = []
        // Exits and stops for journeys already running.
        for instance in existing where instance.status.isActive {
            if let t = endIfRetired(instance, campaigns: campaigns, now: now) { changed.append(t); continue }
            guard let engine = campaigns[instance.campaignId]?.engines[instance.version] else { continue }
            let t = engine.handle(event: event.type, properties: event.properties, instance: instance, contact: contact, now: now)
            if t.instance != instance { changed.append(t) }
        }
        // Entries.
        for (id, entry) in campaigns.sorted(by: { $0.key < $1.key }) where entry.state == .active {
            guard let engine = entry.published, engine.triggers(on: event.type, properties: event.properties, contact: contact, now: now) else { continue }
            let instanceId = "\(id):\(event.id)"
            let mine = existing.filter { $0.campaignId == id }
            guard !mine.contains(where: { $0.id == instanceId }), engine.mayEnter(existing: mine + changed.map(\.instance).filter { $0.campaignId == id })
            else { continue }
            changed.append(engine.enter(id: instanceId, contact: contact, triggerEvent: event.properties, now: now))
        }
        try await commit(changed, contactId: contactId, epoch: epoch, previous: existing)
    }

    /// Puts a contact into a campaign (entry commands, test mode, date sweeps).
    ///
    /// - Parameters:
    ///   - properties: what conditions see as the triggering event (a sweep's date).
    ///   - when: a condition the contact must meet (daily triggers).
    func enter(campaignId: String, contactId: String, id: String, isTest: Bool, properties: [String: JSONValue] = [:], when: Condition? = nil) async throws {
        try await locks.withLock(contactId) {
            try await enterLocked(campaignId: campaignId, contactId: contactId, id: id, isTest: isTest, properties: properties, when: when)
        }
    }

    private func enterLocked(campaignId: String, contactId: String, id: String, isTest: Bool, properties: [String: JSONValue] = [:], when: Condition? = nil)
        async throws
    {
        let epoch = try await ownership.epoch(for: journeys.shard(of: contactId))
        let campaigns = try await catalog.entries()
        guard let entry = campaigns[campaignId], entry.state == .active, var engine = entry.published else {
            logger.info("scheduler ignored an entry into a campaign that is not active", metadata: ["herald.campaign": "\(campaignId)"])
            return
        }
        engine.testWait = testWait
        let loaded = try await load(contactId, epoch: epoch)
        let existing = loaded.journeys
        let contact = (loaded.profile ?? ContactProfile(id: contactId)).snapshot(messages: loaded.messages)
        let now = clock.now()
        if let when, !ConditionEvaluator.evaluate(when, contact: contact, event: properties, now: now) { return }
        let mine = existing.filter { $0.campaignId == campaignId }
        var changed: [Transition] = []
        if isTest {
            // Test mode: a test contact already inside is removed and started again.
            for i in mine where i.status.isActive { changed.append(engine.end(i, reason: .restarted, now: now)) }
        } else {
            guard !mine.contains(where: { $0.id == id }), engine.mayEnter(existing: mine) else { return }
        }
        changed.append(engine.enter(id: id, contact: contact, triggerEvent: properties, now: now, isTest: isTest))
        try await commit(changed, contactId: contactId, epoch: epoch, previous: existing)
    }

    // MARK: Wake-ups

    /// A due wake-up: `herald:wake:{shard}` member and score.
    struct Due: Sendable {
        var contactId: String
        var instanceId: String
        var due: Int64

        /// The contacts of `batch` in the order of their first wake-up, and each
        /// contact's wake-ups in due order.
        static func byContact(_ batch: [Due]) -> (order: [String], dues: [String: [Due]]) {
            var order: [String] = []
            var dues: [String: [Due]] = [:]
            for d in batch {
                if dues[d.contactId] == nil { order.append(d.contactId) }
                dues[d.contactId, default: []].append(d)
            }
            return (order, dues)
        }
    }

    /// Continues a batch of due journeys of one shard, in three round trips
    /// whatever its size: one pipeline loads every contact, one Kafka batch carries
    /// every effect, one fenced script call saves every contact.
    ///
    /// Contacts busy with an event right now are skipped; their wake-ups stay in
    /// the set and come back with the next poll.
    /// - Returns: how many wake-ups were handled (fired, held or cleared).
    @discardableResult
    func wake(_ batch: [Due], shard: Int) async throws -> Int {
        let (order, byContact) = Due.byContact(batch)
        let mine = locks.tryLock(order)
        defer { locks.unlock(mine) }
        guard !mine.isEmpty else { return 0 }
        let epoch = try await ownership.epoch(for: shard)
        // Claimed wake-ups run on the campaigns as they are now: a pause answered
        // before this claim holds them (`CampaignCatalog`).
        let campaigns = try await catalog.refresh()
        let loaded = try await load(mine, shard: shard, epoch: epoch)
        let now = clock.now()
        var saves: [JourneySave] = []
        var counts: [String: CampaignReport] = [:]
        var records: [KafkaOutgoingRecord] = []
        var orphans: [(contactId: String, instanceId: String)] = []
        var handled = 0
        for (contactId, contact) in zip(mine, loaded) {
            let existing = contact.journeys
            let snapshot = (contact.profile ?? ContactProfile(id: contactId)).snapshot(messages: contact.messages)
            var current = Dictionary(existing.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            var transitions: [Transition] = []
            for d in byContact[contactId]! {
                handled += 1
                guard let instance = current[d.instanceId] else {
                    orphans.append((contactId, d.instanceId))
                    continue
                }
                let t = transition(waking: instance, due: d.due, contact: snapshot, campaigns: campaigns, now: now)
                current[t.instance.id] = t.instance
                transitions.append(t)
            }
            guard !transitions.isEmpty else { continue }
            let (effects, messages) = try await effects(of: transitions, contactId: contactId)
            records += effects
            for (campaign, report) in CampaignReport.delta(of: transitions, previous: existing) {
                counts[campaign, default: CampaignReport()].add(report)
            }
            // One entry per instance: the last state of each.
            var seen: Set<String> = []
            let last = transitions.reversed().map(\.instance).filter { seen.insert($0.id).inserted }.reversed()
            saves.append(
                JourneySave(
                    contactId: contactId, instances: Array(last), messages: messages, deletes: JourneyRetention.expired(existing: existing, saving: Array(last))
                ))
        }
        // A pause since the claim (a stall) is caught before anything goes out.
        try ownership.confirm(shard)
        for case .failure(let error) in await producer.send(records) { throw error }
        do {
            try await journeys.save(saves, shard: shard, epoch: epoch, counts: counts, orphans: orphans)
        } catch JourneyStoreError.fenced {
            throw ownership.fenced(shard: shard, failed: epoch)
        }
        return handled
    }

    /// Moves a contact's due wake-ups that keep failing out of the way: each
    /// journey's stored bytes go to herald.dlq with `reason`, then its wake-up is
    /// removed in a fenced save. The journey itself stays stored as it was;
    /// docs/operations.md says how to put the wake-up back after a fix.
    /// - Throws: what the dead letter or the save throws; the wake-ups then stay.
    func deadLetter(_ dues: [Due], shard: Int, reason: String) async throws {
        guard let contactId = dues.first?.contactId else { return }
        try await locks.withLock(contactId) {
            let epoch = try await ownership.epoch(for: shard)
            let ids = dues.map(\.instanceId)
            let (key, values) = try await journeys.stored(contactId, instanceIds: ids)
            logger.error(
                "scheduler moves wake-ups that keep failing to herald.dlq",
                metadata: [
                    "herald.contact_id": "\(contactId)", "herald.instances": "\(ids)", "herald.error": "\(reason)",
                ])
            try await deadLetters.send(
                stored: zip(ids, values).map { (contactId, key, $0.0, $0.1 ?? [], "\(reason); its wake-up was removed") }, reason: .failed)
            do {
                try await journeys.save([], shard: shard, epoch: epoch, orphans: ids.map { (contactId, $0) })
            } catch JourneyStoreError.fenced {
                throw ownership.fenced(shard: shard, failed: epoch)
            }
        }
    }

    /// What a due wake-up does to its instance: end it (campaign stopped), hold it
    /// (campaign paused), or run its next steps.
    private func transition(
        waking instance: JourneyInstance, due: Int64, contact: ContactSnapshot, campaigns: [String: CampaignCatalog.Entry], now: Int64
    ) -> Transition {
        if let t = endIfRetired(instance, campaigns: campaigns, now: now) { return t }
        guard let entry = campaigns[instance.campaignId], var engine = entry.engines[instance.version] else {
            // A version this process does not know yet: look again shortly.
            var later = instance
            later.status = .waiting(until: max(due, now).addingClamped(1000))
            return Transition(instance: later, effects: [])
        }
        if entry.state == .paused {
            // Held while paused: look again in a second (resumed wake-ups keep their order).
            var held = instance
            held.status = .waiting(until: max(due, now).addingClamped(1000))
            return Transition(instance: held, effects: [])
        }
        engine.testWait = testWait
        // A wake-up that changes nothing (already handled) still clears its entry.
        // The wake-up's own time, not the clock: a replayed claim computes the same
        // transition (waits from the scheduled time, windows as of it).
        let at: Int64 = if case .waiting(let until) = instance.status { until } else { due }
        let t = engine.wakeUp(instance, contact: contact, now: at)
        metrics.lateness.record(Double(max(0, now.subtractingClamped(due))) / 1000)
        return t
    }

    /// Ends journeys of stopped campaigns and of versions retired with `now`.
    func endIfRetired(_ instance: JourneyInstance, campaigns: [String: CampaignCatalog.Entry], now: Int64) -> Transition? {
        guard instance.status.isActive else { return nil }
        guard let entry = campaigns[instance.campaignId] else {
            return JourneyEngine.ending(instance, reason: .stopped, now: now)
        }
        if entry.state == .stopped || entry.retired[instance.version] == .now {
            return JourneyEngine.ending(instance, reason: .stopped, now: now)
        }
        return nil
    }

    // MARK: Effects and saving

    func commit(_ transitions: [Transition], contactId: String, epoch: Int64, previous: [JourneyInstance] = []) async throws {
        guard !transitions.isEmpty else { return }
        let counts = CampaignReport.delta(of: transitions, previous: previous)
        let (records, messages) = try await effects(of: transitions, contactId: contactId)
        let shard = journeys.shard(of: contactId)
        try ownership.confirm(shard)
        for case .failure(let error) in await producer.send(records) { throw error }
        let saving = transitions.map(\.instance)
        let deletes = JourneyRetention.expired(existing: previous, saving: saving)
        do {
            try await journeys.save(saving, contactId: contactId, epoch: epoch, counts: counts, messages: messages, deletes: deletes)
        } catch JourneyStoreError.fenced {
            // Another process claimed the shard: the group decides who owns it
            // (`ShardOwnership`); the consumer rewinds, the poller waits.
            throw ownership.fenced(shard: shard, failed: epoch)
        }
    }

    /// The Kafka records of transitions' effects (notes go straight to the profile),
    /// and the messages they ask to send, for the contact's history.
    ///
    /// Decision: history counts a message when Herald asks for it (here), not when a
    /// provider confirms it — frequency rules then hold even while sends are queued.
    func effects(of transitions: [Transition], contactId: String) async throws -> (records: [KafkaOutgoingRecord], messages: [JourneySave.Message]) {
        var records: [KafkaOutgoingRecord] = []
        var messages: [JourneySave.Message] = []
        for t in transitions {
            let i = t.instance
            for (n, effect) in t.effects.enumerated() {
                let eventId = "\(i.id):\(i.sequence):\(n)"
                switch effect {
                case .send(let step, let key):
                    records.append(send(i, step, key: key))
                    if !i.isTest { messages.append(.init(key: key, record: MessageRecord(channel: step.channel, category: step.category, at: clock.now()))) }
                case .webhook(let url, let key):
                    records.append(send(i, SendStep(channel: .webhook, template: url), key: key))
                case .addTag(let tag): records.append(raw(eventId, "tag_added", i, ["tag": .string(tag)]))
                case .removeTag(let tag): records.append(raw(eventId, "tag_removed", i, ["tag": .string(tag)]))
                case .subscribe(let list): records.append(raw(eventId, "list_subscribed", i, ["list": .string(list)]))
                case .unsubscribe(let list): records.append(raw(eventId, "list_unsubscribed", i, ["list": .string(list)]))
                case .updateContact(let values): records.append(raw(eventId, "contact_updated", i, ["attributes": .object(values)]))
                case .addNote(let text):
                    var change = ContactChange()
                    change.note = (eventId, text, clock.now())
                    try await contacts.apply(change, to: contactId, now: clock.now())
                case .startCampaign(let campaign):
                    let command = JourneyCommand.enter(campaignId: campaign, contactId: contactId, id: "\(campaign):\(eventId)", isTest: i.isTest)
                    records.append(KafkaOutgoingRecord(topic: Topics.journeys, key: contactId, value: command.encoded()))
                case .wakeUp:
                    break  // saved with the instance
                }
            }
            metrics.transition(campaign: i.campaignId, step: i.stepId)
        }
        return (records, messages)
    }

    /// A `herald.sends` record (the wire format is `SendRequest`'s, shared with the sender).
    func send(_ i: JourneyInstance, _ step: SendStep, key: String) -> KafkaOutgoingRecord {
        Self.sendRecord(i, step, key: key, now: clock.now())
    }

    /// The `herald.sends` record for journey `i`'s send step, keyed by its contact.
    static func sendRecord(_ i: JourneyInstance, _ step: SendStep, key: String, now: Int64) -> KafkaOutgoingRecord {
        var request = SendRequest(
            id: key, contactId: i.contactId, campaignId: i.campaignId, version: i.version, instanceId: i.id, stepId: i.stepId,
            channel: step.channel, template: step.template, category: step.category, isTest: i.isTest, createdAtMs: now)
        request.account = step.account ?? ""
        request.language = step.language ?? ""
        request.event = i.triggerEvent
        return KafkaOutgoingRecord(topic: Topics.sends, key: i.contactId, value: request.encoded())
    }

    func raw(_ id: String, _ type: String, _ i: JourneyInstance, _ properties: [String: JSONValue]) -> KafkaOutgoingRecord {
        var p = properties
        p["campaign_id"] = .string(i.campaignId)
        let value: JSONValue = ["id": .string(id), "type": .string(type), "contact_id": .string(i.contactId), "properties": .object(p)]
        return KafkaOutgoingRecord(topic: Topics.eventsRaw, key: i.contactId, value: value.serialized())
    }
}

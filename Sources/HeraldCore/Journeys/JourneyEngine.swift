/// Runs journeys of one campaign version: pure and deterministic, driven by the
/// caller's clock (`now`), so it is tested without Kafka or Redis.
public struct JourneyEngine: Sendable {
    /// The campaign whose journeys it runs.
    public let campaign: Campaign
    /// The campaign's version.
    public let version: Int
    /// In test mode every wait lasts this long instead (5 minutes by default).
    public var testWait: Duration = .seconds(300)
    /// Most steps run in one transition; a guard against a graph the validator missed.
    public var maximumStepsPerTransition = 1000

    /// An engine for `version` of `campaign`.
    public init(campaign: Campaign, version: Int) {
        self.campaign = campaign
        self.version = version
    }

    // MARK: Entry

    /// Whether a contact may enter now, given its journeys of this campaign.
    public func mayEnter(existing: [JourneyInstance]) -> Bool {
        switch campaign.entry {
        case .once: existing.isEmpty
        case .afterExit: !existing.contains { $0.status.isActive }
        case .parallel: true
        }
    }

    /// Whether `event` fires one of the campaign's event triggers for `contact`.
    public func triggers(on eventType: String, properties: [String: JSONValue], contact: ContactSnapshot, now: Int64) -> Bool {
        campaign.triggers.contains {
            TriggerMatcher.matches(
                $0, eventType: eventType, properties: properties, contact: contact, campaignList: campaign.list, campaignId: campaign.id, now: now)
        }
    }

    /// Starts a journey and runs it to its first wait or its end.
    public func enter(id: String, contact: ContactSnapshot, triggerEvent: [String: JSONValue], now: Int64, isTest: Bool = false) -> Transition {
        var instance = JourneyInstance(
            id: id, campaignId: campaign.id, version: version, contactId: contact.id, triggerEvent: triggerEvent,
            stepId: campaign.start, enteredAt: now, isTest: isTest)
        if let audience = campaign.audience, !ConditionEvaluator.evaluate(audience, contact: contact, event: triggerEvent, now: now) {
            instance.status = .exited(reason: .audience, at: now)
            return Transition(instance: instance, effects: [])
        }
        return run(instance, contact: contact, now: now)
    }

    // MARK: Time and events

    /// Continues a waiting journey whose wake-up is due. A wake-up that is not due
    /// yet, or for a journey no longer waiting, changes nothing (replays are no-ops).
    public func wakeUp(_ instance: JourneyInstance, contact: ContactSnapshot, now: Int64) -> Transition {
        guard case .waiting(let until) = instance.status, until <= now else { return Transition(instance: instance, effects: []) }
        var next = instance
        next.status = .running
        guard let step = campaign.steps[instance.stepId] else { return finish(next, now: now) }
        // The wait is over: move past the waiting step.
        guard let after = step.next else { return finish(next, now: now) }
        next.stepId = after
        return run(next, contact: contact, now: now)
    }

    /// Applies an event to an active journey: an exit event ends it at once.
    public func handle(event eventType: String, properties: [String: JSONValue], instance: JourneyInstance, contact: ContactSnapshot, now: Int64) -> Transition
    {
        guard instance.status.isActive else { return Transition(instance: instance, effects: []) }
        for exit in campaign.exits where exit.event == eventType {
            if let when = exit.when, !ConditionEvaluator.evaluate(when, contact: contact, event: properties, now: now) { continue }
            var ended = instance
            ended.status = .exited(reason: .exitEvent, at: now)
            ended.sequence += 1
            return Transition(instance: ended, effects: [])
        }
        return Transition(instance: instance, effects: [])
    }

    /// Ends an active journey for a reason from outside (stop `now`, test restart).
    public func end(_ instance: JourneyInstance, reason: ExitReason, now: Int64) -> Transition {
        guard instance.status.isActive else { return Transition(instance: instance, effects: []) }
        var ended = instance
        ended.status = .exited(reason: reason, at: now)
        ended.sequence += 1
        return Transition(instance: ended, effects: [])
    }

    /// Ends an active journey whose campaign or version is gone (no engine needed).
    public static func ending(_ instance: JourneyInstance, reason: ExitReason, now: Int64) -> Transition {
        var ended = instance
        ended.status = .exited(reason: reason, at: now)
        ended.sequence += 1
        return Transition(instance: ended, effects: [])
    }

    // MARK: Running steps

    /// Runs steps from `instance.stepId` until a wait or the end.
    ///
    /// The transition's own changes to the contact (`update_contact`, tags,
    /// lists) are applied to `contact` as the steps run, so a later split or
    /// audience check in the same transition sees them. A replay of the
    /// transition (after a failed save) reads the profile with those changes
    /// already applied, and so takes the same branches and sends the same
    /// messages; without this the first run and the replay could disagree.
    func run(_ start: JourneyInstance, contact initial: ContactSnapshot, now: Int64) -> Transition {
        var instance = start
        var contact = initial
        var effects: [JourneyEffect] = []
        for _ in 0..<maximumStepsPerTransition {
            guard let step = campaign.steps[instance.stepId] else { return finish(instance, now: now, effects: effects) }
            if let audience = campaign.audience, !ConditionEvaluator.evaluate(audience, contact: contact, event: instance.triggerEvent, now: now) {
                instance.status = .exited(reason: .audience, at: now)
                instance.sequence += 1
                return Transition(instance: instance, effects: effects)
            }
            instance.sequence += 1
            let visit = instance.visits[step.id, default: 0] + 1
            instance.visits[step.id] = visit
            let key = "\(instance.id):\(step.id):\(visit)"
            var next = step.next
            switch step.kind {
            case .send(let send):
                effects.append(.send(send, idempotencyKey: key))
            case .wait(let d):
                let until = now.addingClamped((instance.isTest ? min(d, testWait) : d).milliseconds)
                instance.status = .waiting(until: until)
                effects.append(.wakeUp(at: until))
                return Transition(instance: instance, effects: effects)
            case .waitUntil(let w):
                var until = LocalTime.nextMoment(after: now, satisfying: w, timeZone: contact.timeZone ?? campaign.timeZone)
                if instance.isTest { until = min(until, now.addingClamped(testWait.milliseconds)) }
                if until > now {
                    instance.status = .waiting(until: until)
                    effects.append(.wakeUp(at: until))
                    return Transition(instance: instance, effects: effects)
                }
            case .split(let branches, let otherwise):
                next = branches.first { ConditionEvaluator.evaluate($0.when, contact: contact, event: instance.triggerEvent, now: now) }?.next ?? otherwise
                if next == nil {
                    instance.status = .exited(reason: .noBranch, at: now)
                    return Transition(instance: instance, effects: effects)
                }
            case .randomSplit(let branches):
                // Deterministic per (instance, step, visit): a replay picks the same branch.
                var bucket = Int(Shard.murmur2(Array(key.utf8)) % 100)
                next = branches.last?.next
                for b in branches {
                    if bucket < b.percent { next = b.next; break }
                    bucket -= b.percent
                }
            case .updateContact(let values):
                effects.append(.updateContact(values))
                // As the profile applies it: attributes merge, null removes one.
                for (name, value) in values { contact.attributes[name] = value == .null ? nil : value }
            case .addTag(let t):
                effects.append(.addTag(t))
                contact.tags.insert(t)
            case .removeTag(let t):
                effects.append(.removeTag(t))
                contact.tags.remove(t)
            case .subscribe(let l):
                effects.append(.subscribe(list: l))
                contact.lists.insert(l)
            case .unsubscribe(let l):
                effects.append(.unsubscribe(list: l))
                contact.lists.remove(l)
            case .addNote(let n): effects.append(.addNote(n))
            case .webhook(let url): effects.append(.webhook(url: url, idempotencyKey: key))
            case .startCampaign(let c): effects.append(.startCampaign(c))
            case .end: next = nil
            }
            guard let next else { return finish(instance, now: now, effects: effects) }
            instance.stepId = next
        }
        return finish(instance, now: now, effects: effects)
    }

    func finish(_ instance: JourneyInstance, now: Int64, effects: [JourneyEffect] = []) -> Transition {
        var done = instance
        done.status = .completed(at: now)
        return Transition(instance: done, effects: effects)
    }
}

/// The result of one step of evaluation: the instance as it is now and what to do.
public struct Transition: Sendable, Hashable {
    /// The instance after the step.
    public var instance: JourneyInstance
    /// What the caller must do, in order: sends, profile changes, webhooks, entries into other
    /// campaigns, a wake-up.
    public var effects: [JourneyEffect]

    /// A transition to `instance` with `effects`.
    public init(instance: JourneyInstance, effects: [JourneyEffect]) {
        self.instance = instance
        self.effects = effects
    }
}

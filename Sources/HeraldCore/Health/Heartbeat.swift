import Synchronization

/// A long-running loop's last sign of progress (a consumer's poll loop, a
/// poller's pass). The loop calls `beat()` each time round, also while it waits
/// out an outage on purpose; a loop stuck inside a call that never returns
/// stops beating, and `/healthz` then fails (`Heartbeats.stalled`), so the
/// orchestrator restarts the process. A `Mutex` over one instant: a beat is
/// one uncontended lock, far below a loop pass's cost.
public final class Heartbeat: Sendable {
    /// What the loop is (`consumer herald.events`, `wake-up poller`).
    public let name: String
    private let last: Mutex<ContinuousClock.Instant>

    init(name: String) {
        self.name = name
        last = Mutex(.now)
    }

    /// The loop made progress (or went round) now.
    public func beat() { last.withLock { $0 = .now } }

    /// How long since the last beat.
    public var age: Duration { ContinuousClock.now - last.withLock { $0 } }
}

/// Every loop of a process that `/healthz` watches.
public final class Heartbeats: Sendable {
    private let all = Mutex<[Heartbeat]>([])

    /// No loops yet.
    public init() {}

    /// A new loop to watch, beating from now on.
    public func make(_ name: String) -> Heartbeat {
        let heartbeat = Heartbeat(name: name)
        all.withLock { $0.append(heartbeat) }
        return heartbeat
    }

    /// Stops watching a loop that ended on purpose (a shard moved to another process).
    public func retire(_ heartbeat: Heartbeat) {
        all.withLock { $0.removeAll { $0 === heartbeat } }
    }

    /// Every loop with the time since its last beat, by name.
    public var ages: [(name: String, age: Duration)] {
        all.withLock { $0.map { ($0.name, $0.age) } }.sorted { $0.name < $1.name }
    }

    /// The loops that have not beaten for `after` or longer.
    public func stalled(after: Duration) -> [(name: String, age: Duration)] {
        ages.filter { $0.age >= after }
    }
}

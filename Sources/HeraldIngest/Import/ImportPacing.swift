import Prometheus
import Synchronization

/// How many import batches one ingestor may have produced and not yet seen
/// in the profiles, over all of its imports together (`imports.batches_ahead`,
/// 40 by default: 40,000 rows, a few seconds of the profile applier's work
/// (docs/benchmarks.md), and about 10 MB on the broker, well inside the
/// embedded one's 5 MB per partition).
///
/// Each import once had its own bound, so eight imports side by side could be
/// eight times as far ahead of the profile applier (320 batches, 320,000
/// rows): live events then queued behind all of them, and
/// on a broker with short retention (the embedded one keeps 5 MB a partition)
/// enough imports at once would have their rows deleted unread.
///
/// A batch takes a place before it is produced and gives it back once the
/// profiles show it (`ContactImporter.waitApplied`) or its import ends. An
/// import that holds places and finds none free waits for its own oldest batch
/// (`take(holding:orWaitFor:)`), so imports never wait on each other in a cycle; one
/// that holds none waits in line, first come first served.
final class ImportPacing: Sendable {
    private struct State {
        var free: Int
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state: Mutex<State>
    /// The places in all.
    let places: Int
    /// `herald_import_batches_ahead`: the places taken.
    let gauge: Gauge?

    /// A pacing of `places` batches (at least one), shown on `gauge`.
    init(places: Int, gauge: Gauge? = nil) {
        self.places = max(1, places)
        self.gauge = gauge
        state = Mutex(State(free: self.places))
    }

    /// Shows the places taken now.
    private func show() { gauge?.set(Int64(ahead)) }

    /// Batches produced and not yet seen in the profiles, over every import.
    var ahead: Int { places - state.withLock { $0.free } }

    /// Takes a place for the next batch. When none is free and the caller
    /// holds some, runs `ownOldest` (which waits for the caller's oldest batch
    /// and gives its place back) and tries again; when the caller holds none,
    /// waits for a place.
    func take(holding: Int, orWaitFor ownOldest: () async throws -> Void) async throws {
        let taken = state.withLock { s in
            guard s.free > 0, s.waiters.isEmpty || holding > 0 else { return false }
            s.free -= 1
            return true
        }
        if taken { return show() }
        if holding > 0 {
            try await ownOldest()
            return try await take(holding: holding - 1, orWaitFor: ownOldest)
        }
        // Woken by `give`, which hands its place straight to the first waiter.
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s in
                if s.free > 0 && s.waiters.isEmpty {
                    s.free -= 1
                    return true
                }
                s.waiters.append(c)
                return false
            }
            if now { c.resume() }
        }
        show()
    }

    /// Gives back `count` places, first to imports waiting in line.
    func give(_ count: Int = 1) {
        guard count > 0 else { return }
        let woken = state.withLock { s in
            var handed: [CheckedContinuation<Void, Never>] = []
            for _ in 0..<count {
                if s.waiters.isEmpty { s.free += 1 } else { handed.append(s.waiters.removeFirst()) }
            }
            return handed
        }
        for w in woken { w.resume() }
        show()
    }
}

import Foundation
import HeraldCore
import Synchronization
import Testing

@testable import HeraldSender

@Suite("the retry poller's due times")
struct DueTimesTests {
    func nowMs() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    @Test("a message noted as due before the poller's wake-up ends its sleep; one due after does not")
    func earlyWake() async throws {
        let due = DueTimes()
        let clock = ContinuousClock()
        // Asleep for 120 s; a message parked 50 ms in, due 100 ms later, wakes it.
        // The bounds below are far from both ends: the first wave of the test run
        // (every suite starting its redis-server) has stalled timers here for 6 s.
        let start = clock.now
        let sleeper = Task { await due.sleep(until: nowMs() + 120_000) }
        try await Task.sleep(for: .milliseconds(50))
        due.note(shard: 3, at: nowMs() + 100)
        await sleeper.value
        #expect(clock.now - start < .seconds(60), "woken by the note, not the 120 s wake-up: \(clock.now - start)")
        // The poller takes what is due before it sleeps again.
        #expect(due.take(dueBy: nowMs() + 1_000) == [3])

        // Asleep for 300 ms; a message due after that leaves the sleep alone.
        let second = clock.now
        let later = Task { await due.sleep(until: nowMs() + 300) }
        try await Task.sleep(for: .milliseconds(50))
        due.note(shard: 4, at: nowMs() + 5_000)
        await later.value
        #expect(clock.now - second >= .milliseconds(250), "\(clock.now - second)")
        #expect(due.take(dueBy: nowMs() + 10_000) == [4])
    }

    @Test("a wake-up that fires before the sleep has begun still ends it (20,000 sleeps of no length, none left hanging)")
    func wakeBeforeSleepBegins() async throws {
        let due = DueTimes()
        final class Progress: Sendable { let done = Mutex(0) }
        let progress = Progress()
        let finished = try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                // A zero-length sleep's timer often fires before the sleeper is
                // in place: that wake-up must not be lost.
                for _ in 0..<20_000 {
                    await due.sleep(until: 0, minimum: .zero)
                    progress.done.withLock { $0 += 1 }
                }
                return true
            }
            group.addTask {
                // A lost wake-up hangs for good: no sleep ends for 5 s. A busy
                // machine only slows the sleeps down (seen on a loaded one:
                // 20,000 took more than 20 s), so the watch is on progress.
                var last = -1
                while true {
                    try await Task.sleep(for: .seconds(5))
                    let now = progress.done.withLock { $0 }
                    if now == last { return false }
                    last = now
                }
            }
            let first = try await group.next() ?? false
            group.cancelAll()
            return first
        }
        #expect(finished, "a sleep was left hanging after \(progress.done.withLock { $0 }) of 20,000: its wake-up came before it began")
    }

    @Test("a time noted before the sleep began, and due before its end, ends it at once; cancelling ends it too")
    func noteBeforeSleep() async throws {
        let due = DueTimes()
        let clock = ContinuousClock()
        due.note(shard: 1, at: nowMs() + 50)
        let start = clock.now
        await due.sleep(until: nowMs() + 120_000)
        #expect(clock.now - start < .seconds(60), "\(clock.now - start)")

        let cancelled = Task { await due.sleep(until: nowMs() + 120_000) }
        _ = due.take(dueBy: nowMs() + 100_000)
        try await Task.sleep(for: .milliseconds(50))
        let stop = clock.now
        cancelled.cancel()
        await cancelled.value
        #expect(clock.now - stop < .seconds(60), "\(clock.now - stop)")
    }

    @Test("the pause is measured on the injected wall clock (a due time 300 ms after a clock stopped in 2001 is slept for 300 ms, not skipped as long past)")
    func injectedClock() async throws {
        let stopped: Int64 = 978_307_200_000  // 2001-01-01T00:00:00Z
        let due = DueTimes(clock: WallClock { stopped })
        let clock = ContinuousClock()
        let start = clock.now
        await due.sleep(until: stopped + 300)
        let slept = clock.now - start
        #expect(slept >= .milliseconds(250), "slept \(slept): the pause was read off the system clock")
        #expect(slept < .seconds(60), "\(slept)")
    }
}

import Synchronization
import Testing

@testable import HeraldIngest

@Suite("Import pacing: one bound for every import of an ingestor")
struct ImportPacingTests {
    /// A holder of places that has none free waits for its own oldest batch,
    /// whose place goes first to an import waiting in line: no import waits
    /// on another in a cycle, and the places taken never pass the bound.
    @Test("an import holding places waits for its own oldest; one holding none waits in line and is served first")
    func sharing() async throws {
        let pacing = ImportPacing(places: 3)
        let order = Mutex<[String]>([])
        // A takes every place.
        for held in 0..<3 { try await pacing.take(holding: held) { Issue.record("A had a free place") } }
        #expect(pacing.ahead == 3)
        // B holds none: it waits in line.
        let b = Task {
            try await pacing.take(holding: 0) { Issue.record("B holds nothing to wait for") }
            order.withLock { $0.append("B") }
        }
        try await Task.sleep(for: .milliseconds(50))
        #expect(order.withLock { $0 }.isEmpty)
        // A wants a fourth: it waits for its own oldest, whose place goes to B;
        // then for its next oldest, whose place it takes.
        var afterGiving: [Int] = []
        try await pacing.take(holding: 3) {
            pacing.give()
            afterGiving.append(pacing.ahead)
        }
        try await b.value
        // The first place given went straight to B (still 3 taken), the second was free until A took it.
        #expect(afterGiving == [3, 2])
        #expect(order.withLock { $0 } == ["B"])
        #expect(pacing.ahead == 3, "A's two and B's one")
        pacing.give(3)
        #expect(pacing.ahead == 0)
    }

    /// Many imports taking and giving at once never hold more than the bound,
    /// and every one of them finishes.
    @Test("eight imports of 50 batches each over 4 places: never more than 4 ahead, all finish")
    func bound() async throws {
        let pacing = ImportPacing(places: 4)
        let most = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    var held = 0, most = 0
                    for _ in 0..<50 {
                        try await pacing.take(holding: held) {
                            try await Task.sleep(for: .microseconds(100))
                            held -= 1
                            pacing.give()
                        }
                        held += 1
                        most = max(most, pacing.ahead)
                        await Task.yield()
                    }
                    pacing.give(held)
                    return most
                }
            }
            return try await group.reduce(0, max)
        }
        #expect(most <= 4 && most > 1, "most ahead: \(most)")
        #expect(pacing.ahead == 0)
    }
}

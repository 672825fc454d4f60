/// Runs work for many contacts concurrently while keeping each contact's items in
/// order: transitions of different contacts are independent, and most of a
/// transition's time is spent waiting (Redis round trips, Kafka acknowledgements).
enum PerContact {
    /// Calls `body` for every item, items of one contact one after another in their
    /// order, at most `concurrency` contacts at a time.
    /// - Throws: the first error (the other contacts already started finish first).
    static func forEach<Item: Sendable>(
        _ items: [Item], concurrency: Int, contact: (Item) -> String, _ body: @escaping @Sendable (Item) async throws -> Void
    ) async throws {
        var order: [String] = []
        var groups: [String: [Item]] = [:]
        for item in items {
            let c = contact(item)
            if groups[c] == nil { order.append(c) }
            groups[c, default: []].append(item)
        }
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            var running = 0
            for c in order {
                if running == concurrency {
                    try await tasks.next()
                    running -= 1
                }
                let mine = groups[c]!
                tasks.addTask { for item in mine { try await body(item) } }
                running += 1
            }
            try await tasks.waitForAll()
        }
    }
}

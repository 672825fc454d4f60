extension RedisPool {
    /// Runs a script that handles many items in one call: once per group of items
    /// (the items whose keys share one hash tag — a shard — so the call stays
    /// within one Redis Cluster slot), all calls in one round trip.
    ///
    /// A call per batch rather than per item also lets a script do once what every
    /// item would repeat (trimming a window, pushing out an expiry). Measured on
    /// the sender (docs/benchmarks.md): 120,000 calls became 8,000, but Redis's CPU
    /// fell less than a tenth: what a script costs is the work inside it — the
    /// Lua, each `redis.call`, the append-only file (a callgrind count of Redis,
    /// `scripts/redis-cost/run`, says which).
    /// Items of a group are handled in their order; groups are independent (their
    /// keys are disjoint), so the result is what the items would get one by one.
    ///
    /// - Parameters:
    ///   - count: how many items (indices `0..<count`).
    ///   - group: an item's group (e.g. its shard).
    ///   - header: arguments that come first in every call.
    ///   - keys, arguments: one item's keys and arguments, appended in item order.
    ///   - perCall: at most this many items in one call, so one call never holds
    ///     the server for long.
    ///   - first: commands sent ahead of the calls in the same round trip
    ///     (`evalMany`; idempotent).
    /// - Returns: per item, its element of the script's reply (an array with one
    ///   element per item of the call).
    /// - Throws: `RedisError` when a call fails or answers with the wrong shape.
    public func evalGrouped(
        _ script: RedisScript, count: Int, group: (Int) -> Int, header: [String], perCall: Int = 64, first: [[String]] = [],
        keys: (Int) -> [String], arguments: (Int) -> [String]
    ) async throws -> [RedisValue] {
        try await evalGrouped(script, count: count, group: group, perCall: perCall, first: first) { items in
            (keys: items.flatMap(keys), arguments: header + items.flatMap(arguments))
        }
    }

    /// `evalGrouped` for a script that takes a call's items in a layout of its
    /// own: `call` makes one call's keys and arguments from its items (indices,
    /// in order). The script still answers with one element per item.
    public func evalGrouped(
        _ script: RedisScript, count: Int, group: (Int) -> Int, perCall: Int = 64, first: [[String]] = [],
        call: ([Int]) -> (keys: [String], arguments: [String])
    ) async throws -> [RedisValue] {
        var byGroup: [Int: [Int]] = [:]
        var order: [Int] = []
        for i in 0..<count {
            let g = group(i)
            if byGroup[g] == nil { order.append(g) }
            byGroup[g, default: []].append(i)
        }
        let calls: [[Int]] = order.flatMap { g in
            let items = byGroup[g] ?? []
            return stride(from: 0, to: items.count, by: perCall).map { Array(items[$0..<min(items.count, $0 + perCall)]) }
        }
        let replies = try await evalMany(script, calls: calls.map(call), first: first)
        var out = [RedisValue](repeating: .null, count: count)
        for (items, reply) in zip(calls, replies) {
            if case .error(let message) = reply { throw RedisError(code: .server, message: "\(script.name): \(message)") }
            guard let values = reply.array, values.count == items.count else {
                throw RedisError(code: .server, message: "\(script.name) answered \(items.count) items with \(reply)")
            }
            for (i, value) in zip(items, values) { out[i] = value }
        }
        return out
    }
}

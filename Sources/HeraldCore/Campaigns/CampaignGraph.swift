/// Checks of a campaign's step graph.
enum CampaignGraph {
    static func check(_ c: Campaign, file: String) throws(CampaignError) {
        // Every successor exists.
        for id in c.stepOrder {
            let step = c.steps[id]!
            for next in step.successors where c.steps[next] == nil {
                throw CampaignError(file: file, line: step.line, reason: "step '\(id)' leads to unknown step '\(next)'")
            }
        }
        // Every step is reachable from the start.
        var seen: Set<String> = [c.start]
        var stack = [c.start]
        while let id = stack.popLast() {
            for next in c.steps[id]!.successors where seen.insert(next).inserted { stack.append(next) }
        }
        for id in c.stepOrder where !seen.contains(id) {
            throw CampaignError(file: file, line: c.steps[id]!.line, reason: "step '\(id)' is unreachable from the start step '\(c.start)'")
        }
        // A cycle must contain a wait, or a journey would loop forever in one instant.
        // Search the graph without wait steps for a cycle.
        var state: [String: Int] = [:]  // 1 = on the path, 2 = done
        func visit(_ id: String, _ path: [String]) throws(CampaignError) {
            state[id] = 1
            for next in c.steps[id]!.successors where !c.steps[next]!.waits {
                if state[next] == 1 {
                    let cycle = path.drop { $0 != next } + [id, next]
                    throw CampaignError(file: file, line: c.steps[next]!.line, reason: "cycle without a wait: \(cycle.joined(separator: " → "))")
                }
                if state[next] == nil { try visit(next, path + [id]) }
            }
            state[id] = 2
        }
        for id in c.stepOrder where !c.steps[id]!.waits && state[id] == nil {
            try visit(id, [])
        }
    }
}

import Foundation
import Yams

/// Reads a campaign from YAML and checks it: every error names the file, the line
/// and the reason (unknown step kind, dangling `next`, unreachable step, a cycle
/// without a wait, unknown operator, bad duration, ...).
public enum CampaignParser {
    /// Parses and validates one campaign.
    /// - Throws: `CampaignError` for the first problem found.
    public static func parse(_ yaml: String, file: String) throws(CampaignError) -> Campaign {
        let composed: Node?
        do {
            composed = try YAMLDocument.compose(yaml)
        } catch {
            switch error {
            case .refused(let line, let reason): throw CampaignError(file: file, line: line, reason: "not valid YAML: \(reason)")
            case .yaml(let error): throw CampaignError(file: file, line: Self.line(of: error), reason: "not valid YAML: \(error)")
            case .other(let error): throw CampaignError(file: file, line: 1, reason: "not valid YAML: \(error)")
            }
        }
        guard let root = composed else { throw CampaignError(file: file, line: 1, reason: "the file is empty") }
        var reader = Reader(file: file)
        let campaign = try reader.campaign(root)
        try CampaignGraph.check(campaign, file: file)
        return campaign
    }

    /// Parses one condition in the campaign language (YAML, or JSON, which is YAML
    /// too): `{all: [{list: newsletter}, {attribute: city, eq: Praha}]}`.
    /// - Throws: `CampaignError` naming `source` and the line.
    public static func parseCondition(_ text: String, source: String) throws(CampaignError) -> Condition {
        let composed: Node?
        do {
            composed = try YAMLDocument.compose(text)
        } catch {
            switch error {
            case .refused(let line, let reason): throw CampaignError(file: source, line: line, reason: "not valid YAML: \(reason)")
            case .yaml(let error): throw CampaignError(file: source, line: Self.line(of: error), reason: "not valid YAML: \(error)")
            case .other(let error): throw CampaignError(file: source, line: 1, reason: "not valid YAML: \(error)")
            }
        }
        guard let root = composed else { throw CampaignError(file: source, line: 1, reason: "the condition is empty") }
        let reader = Reader(file: source)
        return try reader.condition(root)
    }

    static func line(of error: YamlError) -> Int {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): mark.line
        default: 1
        }
    }
}

/// Walks the YAML tree, keeping the file name for errors.
struct Reader {
    let file: String

    func fail(_ node: Node?, _ reason: String) -> CampaignError {
        CampaignError(file: file, line: node?.mark?.line ?? 1, column: node?.mark?.column ?? 0, reason: reason)
    }

    // MARK: Generic access

    func mapping(_ node: Node, _ what: String) throws(CampaignError) -> [(String, Node, Node)] {
        guard let m = node.mapping else { throw fail(node, "\(what) must be a mapping") }
        var out: [(String, Node, Node)] = []
        for (k, v) in m {
            guard let key = k.string else { throw fail(k, "keys must be strings") }
            out.append((key, k, v))
        }
        return out
    }

    func fields(_ node: Node, _ what: String, allowed: Set<String>) throws(CampaignError) -> [String: Node] {
        var out: [String: Node] = [:]
        for (key, keyNode, value) in try mapping(node, what) {
            guard allowed.contains(key) else {
                throw fail(keyNode, "unknown field '\(key)' in \(what) (allowed: \(allowed.sorted().joined(separator: ", ")))")
            }
            out[key] = value
        }
        return out
    }

    func string(_ node: Node?, _ what: String, in parent: Node) throws(CampaignError) -> String {
        guard let node else { throw fail(parent, "\(what) is required") }
        guard let s = node.scalar?.string, !s.isEmpty else { throw fail(node, "\(what) must be a non-empty string") }
        return s
    }

    func optionalString(_ node: Node?, _ what: String) throws(CampaignError) -> String? {
        guard let node else { return nil }
        guard let s = node.scalar?.string, !s.isEmpty else { throw fail(node, "\(what) must be a non-empty string") }
        return s
    }

    func strings(_ node: Node, _ what: String) throws(CampaignError) -> [String] {
        if let s = node.scalar?.string { return [s] }
        guard let seq = node.sequence else { throw fail(node, "\(what) must be a string or a list of strings") }
        var out: [String] = []
        for item in seq {
            guard let s = item.scalar?.string, !s.isEmpty else { throw fail(item, "\(what) must contain non-empty strings") }
            out.append(s)
        }
        return out
    }

    func duration(_ node: Node?, _ what: String, in parent: Node) throws(CampaignError) -> Duration {
        let text = try string(node, what, in: parent)
        let d: Duration
        do { d = try DurationText.parse(text) } catch {
            switch error {
            case .notADuration: throw fail(node, "\(what) '\(text)' is not a duration (e.g. 15m, 2h, 2d, 1w)")
            case .tooLong(let maximum): throw fail(node, "\(what) '\(text)' is longer than the maximum of \(DurationText.format(maximum))")
            }
        }
        guard d > .zero else { throw fail(node, "\(what) '\(text)' must be longer than zero") }
        return d
    }

    func time(_ node: Node?, _ what: String, in parent: Node) throws(CampaignError) -> TimeOfDay {
        let text = try string(node, what, in: parent)
        guard let t = TimeOfDay(text) else { throw fail(node, "\(what) '\(text)' is not a time of day (HH:MM, 24-hour)") }
        return t
    }

    func value(_ node: Node) -> JSONValue {
        switch node {
        case .scalar(let s):
            if s.style == .plain {
                if let b = Bool.construct(from: s) { return .bool(b) }
                if let i = YAMLValue.integer(s) { return .int(Int64(i)) }
                if let d = Double.construct(from: s) { return .double(d) }
                if s.string == "~" || s.string == "null" { return .null }
            }
            return .string(s.string)
        case .sequence(let seq): return .array(seq.map(value))
        case .mapping(let m):
            var o: [String: JSONValue] = [:]
            for (k, v) in m { o[k.string ?? ""] = value(v) }
            return .object(o)
        }
    }

    // MARK: Campaign

    mutating func campaign(_ root: Node) throws(CampaignError) -> Campaign {
        let f = try fields(
            root, "the campaign", allowed: ["id", "name", "list", "timezone", "categories", "entry", "triggers", "exit", "audience", "start", "steps"])
        let id = try string(f["id"], "id", in: root)
        guard id.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
            throw fail(f["id"], "id '\(id)' may contain only letters, digits, '-' and '_'")
        }
        let entryText = try optionalString(f["entry"], "entry") ?? "once"
        guard let entry = EntryRule(rawValue: entryText) else {
            throw fail(f["entry"], "entry '\(entryText)' is not one of once, after_exit, parallel")
        }
        let timeZone = try optionalString(f["timezone"], "timezone") ?? "UTC"
        guard TimeZoneCheck.isKnown(timeZone) else { throw fail(f["timezone"], "timezone '\(timeZone)' is not an IANA time zone (e.g. Europe/Prague)") }
        guard let triggersNode = f["triggers"] else { throw fail(root, "triggers is required (at least one)") }
        guard let triggerList = triggersNode.sequence, !triggerList.isEmpty else { throw fail(triggersNode, "triggers must be a non-empty list") }
        var triggers: [Trigger] = []
        for t in triggerList { triggers.append(try trigger(t)) }
        var exits: [ExitCondition] = []
        if let exitNode = f["exit"] {
            guard let list = exitNode.sequence else { throw fail(exitNode, "exit must be a list") }
            for e in list {
                let ef = try fields(e, "an exit condition", allowed: ["event", "when"])
                exits.append(
                    ExitCondition(event: try string(ef["event"], "exit event", in: e), when: try ef["when"].map { n throws(CampaignError) in try condition(n) })
                )
            }
        }
        guard let stepsNode = f["steps"] else { throw fail(root, "steps is required") }
        guard let stepList = stepsNode.sequence, !stepList.isEmpty else { throw fail(stepsNode, "steps must be a non-empty list") }
        var steps: [String: Step] = [:]
        var order: [String] = []
        for s in stepList {
            let parsed = try step(s)
            if steps[parsed.id] != nil { throw fail(s, "duplicate step id '\(parsed.id)'") }
            steps[parsed.id] = parsed
            order.append(parsed.id)
        }
        let start = try optionalString(f["start"], "start") ?? order[0]
        if steps[start] == nil { throw fail(f["start"], "start names unknown step '\(start)'") }
        return Campaign(
            id: id, name: try optionalString(f["name"], "name") ?? id, list: try string(f["list"], "list", in: root),
            timeZone: timeZone, categories: try f["categories"].map { n throws(CampaignError) in try strings(n, "categories") } ?? [],
            entry: entry, triggers: triggers, exits: exits, audience: try f["audience"].map { n throws(CampaignError) in try condition(n) },
            start: start, steps: steps, stepOrder: order)
    }

    // MARK: Triggers

    static let triggerKinds = [
        "list_subscribed", "email_opened", "email_clicked", "page_visited", "tag_added", "tag_removed", "anniversary", "date", "daily", "purchase", "event",
        "api",
    ]

    func trigger(_ node: Node) throws(CampaignError) -> Trigger {
        if let name = node.scalar?.string {
            switch name {
            case "purchase": return .purchase
            case "api": return .api
            case "list_subscribed": return .listSubscribed(list: nil, includeImports: false)
            case "email_opened": return .emailOpened(campaign: nil, template: nil)
            case "email_clicked": return .emailClicked(campaign: nil, template: nil)
            default: throw fail(node, "unknown trigger '\(name)' (known: \(Self.triggerKinds.joined(separator: ", ")))")
            }
        }
        let entries = try mapping(node, "a trigger")
        guard entries.count == 1, let (kind, kindNode, body) = entries.first else {
            throw fail(node, "a trigger has exactly one kind (known: \(Self.triggerKinds.joined(separator: ", ")))")
        }
        func options(_ allowed: Set<String>) throws(CampaignError) -> [String: Node] {
            if body.scalar?.string == "" || body == Node("") { return [:] }
            return try fields(body, "trigger \(kind)", allowed: allowed)
        }
        switch kind {
        case "list_subscribed":
            if let list = body.scalar?.string, !list.isEmpty { return .listSubscribed(list: list, includeImports: false) }
            let o = try options(["list", "include_imports"])
            return .listSubscribed(list: try optionalString(o["list"], "list"), includeImports: o["include_imports"].map { value($0) == .bool(true) } ?? false)
        case "email_opened", "email_clicked":
            let o = try options(["campaign", "template"])
            let c = try optionalString(o["campaign"], "campaign"), t = try optionalString(o["template"], "template")
            return kind == "email_opened" ? .emailOpened(campaign: c, template: t) : .emailClicked(campaign: c, template: t)
        case "page_visited":
            if body.scalar != nil || body.sequence != nil { return .pageVisited(urls: try strings(body, "page_visited")) }
            let o = try options(["urls"])
            guard let urls = o["urls"] else { throw fail(body, "page_visited needs urls") }
            return .pageVisited(urls: try strings(urls, "urls"))
        case "tag_added": return .tagAdded(try string(body, "tag_added", in: node))
        case "tag_removed": return .tagRemoved(try string(body, "tag_removed", in: node))
        case "anniversary", "date":
            let o = try options(["attribute", "at"])
            let attribute = try string(o["attribute"], "\(kind) attribute", in: body)
            let at = try o["at"].map { n throws(CampaignError) in try time(n, "at", in: body) } ?? TimeOfDay(hour: 9, minute: 0)
            return kind == "anniversary" ? .anniversary(attribute: attribute, at: at) : .date(attribute: attribute, at: at)
        case "daily":
            let o = try options(["at", "when"])
            return .daily(at: try time(o["at"], "daily at", in: body), when: try o["when"].map { n throws(CampaignError) in try condition(n) })
        case "purchase": return .purchase
        case "api": return .api
        case "event":
            if let name = body.scalar?.string, !name.isEmpty { return .event(name: name, when: nil) }
            let o = try options(["name", "when"])
            return .event(name: try string(o["name"], "event name", in: body), when: try o["when"].map { n throws(CampaignError) in try condition(n) })
        default:
            throw fail(kindNode, "unknown trigger '\(kind)' (known: \(Self.triggerKinds.joined(separator: ", ")))")
        }
    }

    // MARK: Conditions

    /// An activity count: numbers below `ContactActivity.timesCap`, the event
    /// times a profile keeps per key, so every comparison is exact.
    func activityCount(_ node: Node) throws(CampaignError) -> Comparison {
        try count(
            node, below: ContactActivity.timesCap,
            because: " (a profile keeps the newest \(ContactActivity.timesCap) events of each kind)")
    }

    /// The most a purchase or message count compares with. A count is a whole
    /// number: `gt: 1e23` was once taken as a double and compared as one.
    static let maxCount = 1_000_000_000

    /// A count comparison whose numbers are whole, from 0 to `below - 1`.
    func count(_ node: Node, below: Int = maxCount + 1, because: String = "") throws(CampaignError) -> Comparison {
        let cmp = try comparison(node, try fields(node, "count", allowed: Set(Comparison.operators)), subject: [])
        let values: [JSONValue]
        switch cmp {
        case .eq(let v), .ne(let v), .lt(let v), .gt(let v), .contains(let v): values = [v]
        case .in(let vs): values = vs
        default: values = []
        }
        for v in values {
            guard case .int(let n) = v, n >= 0, n < below else {
                throw fail(node, "count compares whole numbers from 0 to \(below - 1)\(because)")
            }
        }
        return cmp
    }

    func condition(_ node: Node) throws(CampaignError) -> Condition {
        let entries = try mapping(node, "a condition")
        let keys = Set(entries.map(\.0))
        func sub(_ n: Node) throws(CampaignError) -> [Condition] {
            guard let seq = n.sequence, !seq.isEmpty else { throw fail(n, "must be a non-empty list of conditions") }
            var out: [Condition] = []
            for c in seq { out.append(try condition(c)) }
            return out
        }
        if keys == ["all"] { return .all(try sub(entries[0].2)) }
        if keys == ["any"] { return .any(try sub(entries[0].2)) }
        if keys == ["not"] { return .not(try condition(entries[0].2)) }
        if keys == ["tag"] { return .hasTag(try string(entries[0].2, "tag", in: node)) }
        if keys == ["list"] { return .inList(try string(entries[0].2, "list", in: node)) }
        if keys == ["segment"] {
            let id = try string(entries[0].2, "segment", in: node)
            guard AccountName.isValid(id) else { throw fail(entries[0].2, "segment '\(id)': a segment id is 1 to 64 of a-z, 0-9, '_' and '-'") }
            return .segment(id)
        }
        let f = Dictionary(entries.map { ($0.0, $0.2) }, uniquingKeysWith: { a, _ in a })
        if let attr = f["attribute"] {
            return .attribute(try string(attr, "attribute", in: node), try comparison(node, f, subject: ["attribute"]))
        }
        if let prop = f["event_property"] {
            return .eventProperty(try string(prop, "event_property", in: node), try comparison(node, f, subject: ["event_property"]))
        }
        if let m = f["messages"] {
            let o = try fields(m, "messages", allowed: ["channel", "category", "within", "count"])
            var channel: Channel? = nil
            if let c = try optionalString(o["channel"], "channel") {
                guard let ch = Channel(rawValue: c) else { throw fail(o["channel"], "channel '\(c)' is not one of email, sms, whatsapp, webhook") }
                channel = ch
            }
            guard let count = o["count"] else { throw fail(m, "messages needs count (e.g. count: {gt: 1})") }
            return .messages(
                channel: channel, category: try optionalString(o["category"], "category"),
                within: try o["within"].map { n throws(CampaignError) in try duration(n, "within", in: m) },
                count: try self.count(count))
        }
        if let p = f["purchases"] {
            let o = try fields(p, "purchases", allowed: ["within", "count", "amount"])
            guard o["count"] != nil || o["amount"] != nil else { throw fail(p, "purchases needs count or amount (e.g. count: {eq: 0}, amount: {gt: 1000})") }
            let within = try o["within"].map { n throws(CampaignError) in try duration(n, "within", in: p) }
            var parts: [Condition] = []
            if let count = o["count"] {
                parts.append(
                    .purchases(within: within, count: try self.count(count)))
            }
            if let amount = o["amount"] {
                parts.append(
                    .purchaseTotal(
                        within: within, amount: try comparison(amount, try fields(amount, "amount", allowed: Set(Comparison.operators)), subject: [])))
            }
            return parts.count == 1 ? parts[0] : .all(parts)
        }
        if let e = f["events"] {
            let o = try fields(e, "events", allowed: ["name", "within", "count"])
            let name = try string(o["name"], "events name", in: e)
            guard EventValidator.isValidType(name) else {
                throw fail(o["name"], "events name '\(name)' is not an event type (a letter, then letters, digits, '_', '.', ':' or '-'; at most 64)")
            }
            guard let count = o["count"] else { throw fail(e, "events needs count (e.g. count: {gt: 2})") }
            return .activity(
                key: name, within: try o["within"].map { n throws(CampaignError) in try duration(n, "within", in: e) },
                count: try activityCount(count))
        }
        for (word, event) in [("opened", "email_opened"), ("clicked", "email_clicked")] {
            guard let e = f[word] else { continue }
            let o = try fields(e, word, allowed: ["within", "campaign", "category", "count"])
            let campaign = try optionalString(o["campaign"], "campaign"), category = try optionalString(o["category"], "category")
            if campaign != nil && category != nil { throw fail(e, "\(word) takes a campaign or a category, not both") }
            return .activity(
                key: ContactActivity.key(event: event, campaign: campaign, category: category),
                within: try o["within"].map { n throws(CampaignError) in try duration(n, "within", in: e) },
                count: try o["count"].map { c throws(CampaignError) in try activityCount(c) } ?? .gt(.int(0)))
        }
        throw fail(
            node,
            "unknown condition \(keys.sorted()) (use all, any, not, attribute, event_property, tag, list, segment, messages, purchases, events, opened or clicked)"
        )
    }

    func comparison(_ node: Node, _ f: [String: Node], subject: Set<String>) throws(CampaignError) -> Comparison {
        let ops = f.keys.filter { !subject.contains($0) }
        guard ops.count == 1, let op = ops.first, let operand = f[op] else {
            throw fail(node, "a comparison needs exactly one operator (\(Comparison.operators.joined(separator: ", "))), got \(ops.sorted())")
        }
        if Comparison.relativeDateOperators.contains(op) {
            guard subject == ["attribute"] else { throw fail(operand, "\(op) compares a date attribute with now; use it with attribute") }
            let d = try duration(operand, op, in: node)
            guard d <= .seconds(366 * 86_400) || op != "anniversary_within" else { throw fail(operand, "anniversary_within is at most 366d") }
            switch op {
            case "within_last": return .withinLast(d)
            case "older_than": return .olderThan(d)
            default: return .anniversaryWithin(d)
            }
        }
        let v = value(operand)
        switch op {
        case "eq": return .eq(v)
        case "ne": return .ne(v)
        case "lt", "gt":
            switch v {
            case .int, .double, .string: return op == "lt" ? .lt(v) : .gt(v)
            default: throw fail(operand, "\(op) needs a number, date or string")
            }
        case "in":
            guard case .array(let list) = v else { throw fail(operand, "in needs a list") }
            return .in(list)
        case "contains": return .contains(v)
        case "exists":
            guard case .bool(let b) = v else { throw fail(operand, "exists needs true or false") }
            return .exists(b)
        default:
            throw fail(node, "unknown operator '\(op)' (known: \(Comparison.operators.joined(separator: ", ")))")
        }
    }

    // MARK: Steps

    func step(_ node: Node) throws(CampaignError) -> Step {
        let entries = try mapping(node, "a step")
        var id: String? = nil
        var next: String? = nil
        var kinds: [(String, Node, Node)] = []
        for (key, keyNode, value) in entries {
            switch key {
            case "id": id = try string(value, "step id", in: node)
            case "next": next = try string(value, "next", in: node)
            default:
                guard StepKind.names.contains(key) else {
                    throw fail(keyNode, "unknown step kind '\(key)' (known: \(StepKind.names.joined(separator: ", ")))")
                }
                kinds.append((key, keyNode, value))
            }
        }
        guard let id else { throw fail(node, "a step needs an id") }
        guard kinds.count == 1, let (kind, _, body) = kinds.first else {
            throw fail(node, "step '\(id)' must have exactly one kind (\(StepKind.names.joined(separator: ", ")))")
        }
        let line = node.mark?.line ?? 1
        let k = try stepKind(kind, body, id: id)
        switch k {
        case .split, .randomSplit, .end:
            if next != nil { throw fail(node, "step '\(id)': a \(kind) step names its successors itself; remove next") }
        default: break
        }
        return Step(id: id, kind: k, next: next, line: line)
    }

    func stepKind(_ kind: String, _ body: Node, id: String) throws(CampaignError) -> StepKind {
        switch kind {
        case "send":
            let o = try fields(body, "send step '\(id)'", allowed: ["channel", "template", "category", "account", "language"])
            let c = try string(o["channel"], "channel", in: body)
            guard let channel = Channel(rawValue: c) else { throw fail(o["channel"], "channel '\(c)' is not one of email, sms, whatsapp, webhook") }
            let account = try optionalString(o["account"], "account")
            if let account {
                guard channel == .whatsapp else { throw fail(o["account"], "only whatsapp send steps choose an account") }
                guard AccountName.isValid(account) else { throw fail(o["account"], AccountName.rule) }
            }
            let language = try optionalString(o["language"], "language")
            if let language {
                guard channel == .whatsapp else {
                    throw fail(o["language"], "only whatsapp send steps choose a language (email and SMS templates are per language)")
                }
                guard TemplateLanguage.isValid(language) else { throw fail(o["language"], TemplateLanguage.rule) }
            }
            return .send(
                SendStep(
                    channel: channel, template: try string(o["template"], "template", in: body), category: try optionalString(o["category"], "category"),
                    account: account, language: language))
        case "wait":
            return .wait(try duration(body, "wait", in: body))
        case "wait_until":
            let o = try fields(body, "wait_until step '\(id)'", allowed: ["time", "days", "window"])
            var w = WaitUntil()
            if let t = o["time"] { w.time = try time(t, "time", in: body) }
            if let d = o["days"] {
                var days: Set<Weekday> = []
                for name in try strings(d, "days") {
                    guard let day = Weekday(name: name) else { throw fail(d, "'\(name)' is not a day of the week (mon ... sun)") }
                    days.insert(day)
                }
                w.days = days
            }
            if let win = o["window"] {
                let text = try string(win, "window", in: body)
                guard let window = WaitUntil.window(text) else { throw fail(win, "window '\(text)' must be HH:MM-HH:MM with the start before the end") }
                w.window = window
            }
            if w.time == nil && w.days == nil && w.window == nil {
                throw fail(body, "wait_until needs time, days or window")
            }
            return .waitUntil(w)
        case "split":
            guard let seq = body.sequence, !seq.isEmpty else { throw fail(body, "split must be a list of branches") }
            var branches: [SplitBranch] = []
            var otherwise: String? = nil
            for (i, b) in seq.enumerated() {
                let o = try fields(b, "a split branch", allowed: ["when", "next", "else"])
                if let e = o["else"] {
                    guard i == seq.count - 1 else { throw fail(b, "else must be the last branch of split '\(id)'") }
                    otherwise = try string(e, "else", in: b)
                } else {
                    guard let when = o["when"] else { throw fail(b, "a split branch needs when and next (or else)") }
                    branches.append(SplitBranch(when: try condition(when), next: try string(o["next"], "next", in: b)))
                }
            }
            return .split(branches: branches, otherwise: otherwise)
        case "random_split":
            guard let seq = body.sequence, seq.count >= 2 else { throw fail(body, "random_split needs at least two branches") }
            var branches: [RandomBranch] = []
            for b in seq {
                let o = try fields(b, "a random_split branch", allowed: ["percent", "next"])
                guard case .int(let p)? = o["percent"].map(value), (1...99).contains(p) else {
                    throw fail(o["percent"] ?? b, "percent must be a whole number from 1 to 99")
                }
                branches.append(RandomBranch(percent: Int(p), next: try string(o["next"], "next", in: b)))
            }
            let total = branches.reduce(0) { $0 + $1.percent }
            guard total == 100 else { throw fail(body, "random_split percentages add up to \(total), not 100") }
            return .randomSplit(branches)
        case "update_contact":
            guard case .object(let o) = value(body), !o.isEmpty else { throw fail(body, "update_contact needs a mapping of attributes to values") }
            return .updateContact(o)
        case "add_tag": return .addTag(try string(body, "add_tag", in: body))
        case "remove_tag": return .removeTag(try string(body, "remove_tag", in: body))
        case "subscribe": return .subscribe(list: try string(body, "subscribe", in: body))
        case "unsubscribe": return .unsubscribe(list: try string(body, "unsubscribe", in: body))
        case "add_note": return .addNote(try string(body, "add_note", in: body))
        case "webhook":
            let o = try fields(body, "webhook step '\(id)'", allowed: ["url"])
            let url = try string(o["url"], "url", in: body)
            guard url.hasPrefix("https://") || url.hasPrefix("http://") else { throw fail(o["url"], "url '\(url)' must start with http:// or https://") }
            return .webhook(url: url)
        case "start_campaign": return .startCampaign(try string(body, "start_campaign", in: body))
        default: return .end
        }
    }
}

/// IANA time-zone names known to this system.
enum TimeZoneCheck {
    static func isKnown(_ name: String) -> Bool { TimeZones.isKnown(name) }
}

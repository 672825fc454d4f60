import Foundation
import Mustache

/// A sales alert: when a contact spends at least a minimum time on a watched
/// page, tell people (the rule's creator, the contact's owner, CC addresses) by
/// email — at most `frequency` times per calendar period, per contact.
///
/// The same document arrives as a YAML file in `config/alerts/`, as a YAML or
/// JSON body over HTTP, and is stored as JSON; `init(json:)` is the one validator.
public struct AlertRule: Sendable, Equatable {
    /// The rule's id: its file name, URL path and Redis key part.
    public var id: String
    /// The name shown in the alert's subject and in lists.
    public var name: String
    /// A disabled rule is kept but matches nothing.
    public var enabled: Bool
    /// "Me": the address of the user who created the rule.
    public var createdBy: String?
    /// The IANA time zone whose calendar days, weeks and months `frequency` counts in.
    public var timeZone: String
    /// The pages watched; a view of any of them can alert.
    public var pages: [WatchedPage]
    /// At most this many alerts per contact per calendar period.
    public var frequency: AlertFrequency
    /// Who is told.
    public var recipients: AlertRecipients
    /// Shown at the top of the alert.
    public var description: String
    /// A file attached to every alert of the rule, if any.
    public var attachment: AlertAttachment?
    /// The alert's email templates: `config/templates/alerts/<template>/`.
    public var template: String

    /// One watched page and the time on it that alerts.
    public struct WatchedPage: Sendable, Equatable {
        /// The page, or with `/**` the page and those below it.
        public var pattern: PagePattern
        /// The least time on the page (ms) from its view to the next view or a leave; 0: alert on the view.
        public var minTimeMs: Int64
    }

    /// How often one contact may trigger the rule: `times` per calendar `per`.
    public struct AlertFrequency: Sendable, Equatable {
        /// Alerts allowed per period (1 or more).
        public var times: Int
        /// The calendar period, in the rule's time zone.
        public var per: AlertPeriod
        /// `times` alerts per `per`.
        public init(times: Int, per: AlertPeriod) {
            self.times = times
            self.per = per
        }
    }

    /// Who gets the rule's alerts; at least one must be chosen.
    public struct AlertRecipients: Sendable, Equatable {
        /// The rule's creator (`created_by`).
        public var me: Bool
        /// The contact's main owner (the profile's `owner`, an email address).
        public var owner: Bool
        /// Further addresses (at most `maxCCLength` characters together).
        public var cc: [String]
    }

    /// A file attached to the alert: typed-in content or a template.
    public struct AlertAttachment: Sendable, Equatable {
        /// The attachment's kind, which sets its MIME type.
        public enum Format: String, Sendable, CaseIterable {
            case text, html, csv, json
            /// The MIME type of this format.
            public var contentType: String {
                switch self {
                case .text: "text/plain"
                case .html: "text/html"
                case .csv: "text/csv"
                case .json: "application/json"
                }
            }
        }
        /// The name the recipient sees.
        public var filename: String
        /// The file's kind.
        public var format: Format
        /// Typed-in content, sent as it is.
        public var content: String?
        /// A Mustache template rendered with the alert's data.
        public var template: String?
    }

    /// Most characters the CC addresses may take together (joined by ", "), as in the seed.
    public static let maxCCLength = 255

    /// Reads and checks a rule.
    /// - Throws: `AlertRuleError` naming the field (`pages[1].url`) and the reason.
    public init(json: JSONValue) throws(AlertRuleError) {
        guard let o = json.objectValue else { throw AlertRuleError(field: "", reason: "an alert rule must be a mapping") }
        let known: Set<String> = [
            "id", "name", "enabled", "created_by", "time_zone", "pages", "frequency", "recipients", "description", "attachment", "template",
        ]
        if let unknown = o.keys.sorted().first(where: { !known.contains($0) }) {
            throw AlertRuleError(field: unknown, reason: "unknown field (expected one of \(known.sorted().joined(separator: ", ")))")
        }
        func string(_ key: String, in obj: [String: JSONValue], path: String) throws(AlertRuleError) -> String? {
            guard let v = obj[key], v != .null else { return nil }
            guard let s = v.stringValue else { throw AlertRuleError(field: path, reason: "must be a string, not \(v.typeDescription)") }
            return s
        }
        func bool(_ key: String, in obj: [String: JSONValue], path: String, default d: Bool) throws(AlertRuleError) -> Bool {
            guard let v = obj[key], v != .null else { return d }
            guard case .bool(let b) = v else { throw AlertRuleError(field: path, reason: "must be true or false") }
            return b
        }

        guard let name = try string("name", in: o, path: "name")?.trimmingCharacters(in: .whitespaces), !name.isEmpty else {
            throw AlertRuleError(field: "name", reason: "is required")
        }
        guard name.count <= 200 else { throw AlertRuleError(field: "name", reason: "is longer than 200 characters") }
        self.name = name
        let id = try string("id", in: o, path: "id") ?? Self.slug(name)
        guard Self.isValidId(id) else {
            throw AlertRuleError(field: "id", reason: "'\(id)' must be 1-64 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit")
        }
        self.id = id
        enabled = try bool("enabled", in: o, path: "enabled", default: true)
        timeZone = try string("time_zone", in: o, path: "time_zone") ?? "UTC"
        guard timeZone == "UTC" || TimeZone(identifier: timeZone) != nil else {
            throw AlertRuleError(field: "time_zone", reason: "'\(timeZone)' is not an IANA time zone (e.g. Europe/Warsaw)")
        }
        createdBy = try string("created_by", in: o, path: "created_by")
        if let c = createdBy, !EmailAddress.isValid(c) { throw AlertRuleError(field: "created_by", reason: "'\(c)' is not an email address") }

        guard let pageList = o["pages"]?.arrayValue, !pageList.isEmpty else {
            throw AlertRuleError(field: "pages", reason: "at least one watched page is required")
        }
        var pages: [WatchedPage] = []
        for (i, p) in pageList.enumerated() {
            let path = "pages[\(i)]"
            // A bare string is a page with no minimum time.
            let obj: [String: JSONValue] = p.stringValue.map { ["url": .string($0)] } ?? p.objectValue ?? [:]
            if let unknown = obj.keys.sorted().first(where: { $0 != "url" && $0 != "min_time" }) {
                throw AlertRuleError(field: "\(path).\(unknown)", reason: "unknown field (expected url, min_time)")
            }
            guard let url = try string("url", in: obj, path: "\(path).url") else { throw AlertRuleError(field: "\(path).url", reason: "is required") }
            guard let pattern = PagePattern(url) else {
                throw AlertRuleError(
                    field: "\(path).url", reason: "'\(url)' is not a page address (host and path, optionally ending in /** for every sub-page)")
            }
            var minTime: Int64 = 0
            if let text = try string("min_time", in: obj, path: "\(path).min_time") {
                guard let d = DurationText.parseOrNil(text, maximum: .seconds(86_400)) else {
                    throw AlertRuleError(field: "\(path).min_time", reason: "'\(text)' is not a duration up to 24h (e.g. 30s, 2m)")
                }
                minTime = d.milliseconds
            }
            pages.append(WatchedPage(pattern: pattern, minTimeMs: minTime))
        }
        self.pages = pages

        frequency = AlertFrequency(times: 1, per: .day)
        switch o["frequency"] {
        case nil, .null: break
        case .string(let s):
            guard let f = Self.frequency(s) else {
                throw AlertRuleError(field: "frequency", reason: "'\(s)' must be 'once a day|week|month' or 'N per day|week|month'")
            }
            frequency = f
        case .object(let f):
            guard case .int(let times)? = f["times"], (1...1000).contains(times) else {
                throw AlertRuleError(field: "frequency.times", reason: "must be a whole number from 1 to 1000")
            }
            guard let perText = f["per"]?.stringValue, let per = AlertPeriod(rawValue: perText) else {
                throw AlertRuleError(field: "frequency.per", reason: "must be day, week or month")
            }
            frequency = AlertFrequency(times: Int(times), per: per)
        case let other?:
            throw AlertRuleError(field: "frequency", reason: "must be a string or {times, per}, not \(other.typeDescription)")
        }

        let r = o["recipients"]?.objectValue ?? [:]
        if let v = o["recipients"], v != .null, v.objectValue == nil { throw AlertRuleError(field: "recipients", reason: "must be a mapping (me, owner, cc)") }
        if let unknown = r.keys.sorted().first(where: { !["me", "owner", "cc"].contains($0) }) {
            throw AlertRuleError(field: "recipients.\(unknown)", reason: "unknown field (expected me, owner, cc)")
        }
        var cc: [String] = []
        switch r["cc"] {
        case nil, .null: break
        case .string(let s): cc = s.split(whereSeparator: { $0 == "," || $0 == ";" }).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        case .array(let a):
            for (i, v) in a.enumerated() {
                guard let s = v.stringValue else { throw AlertRuleError(field: "recipients.cc[\(i)]", reason: "must be an email address") }
                cc.append(s.trimmingCharacters(in: .whitespaces))
            }
        case let other?: throw AlertRuleError(field: "recipients.cc", reason: "must be a list of addresses, not \(other.typeDescription)")
        }
        for (i, address) in cc.enumerated() where !EmailAddress.isValid(address) {
            throw AlertRuleError(field: "recipients.cc[\(i)]", reason: "'\(address)' is not an email address")
        }
        let ccLength = cc.joined(separator: ", ").count
        guard ccLength <= Self.maxCCLength else {
            throw AlertRuleError(field: "recipients.cc", reason: "the CC addresses take \(ccLength) characters; at most \(Self.maxCCLength) are allowed")
        }
        recipients = AlertRecipients(
            me: try bool("me", in: r, path: "recipients.me", default: false), owner: try bool("owner", in: r, path: "recipients.owner", default: false), cc: cc)
        if recipients.me && createdBy == nil {
            throw AlertRuleError(field: "recipients.me", reason: "needs created_by (the creator's email address)")
        }
        guard recipients.me || recipients.owner || !cc.isEmpty else {
            throw AlertRuleError(field: "recipients", reason: "name at least one recipient: me, owner or cc")
        }

        description = try string("description", in: o, path: "description") ?? ""
        guard description.count <= 2000 else { throw AlertRuleError(field: "description", reason: "is longer than 2000 characters") }
        template = try string("template", in: o, path: "template") ?? "default"
        guard Self.isValidId(template) else { throw AlertRuleError(field: "template", reason: "'\(template)' is not a template name") }

        if let a = o["attachment"], a != .null {
            guard let obj = a.objectValue else {
                throw AlertRuleError(field: "attachment", reason: "must be a mapping (filename, format, content or template)")
            }
            if let unknown = obj.keys.sorted().first(where: { !["filename", "format", "content", "template"].contains($0) }) {
                throw AlertRuleError(field: "attachment.\(unknown)", reason: "unknown field (expected filename, format, content, template)")
            }
            let formatText = try string("format", in: obj, path: "attachment.format") ?? "text"
            guard let format = AlertAttachment.Format(rawValue: formatText) else {
                throw AlertRuleError(field: "attachment.format", reason: "'\(formatText)' must be text, html, csv or json")
            }
            let filename = try string("filename", in: obj, path: "attachment.filename") ?? "alert.\(format == .text ? "txt" : format.rawValue)"
            guard !filename.isEmpty, filename.count <= 100, !filename.contains(where: { "/\\\"\r\n".contains($0) }) else {
                throw AlertRuleError(field: "attachment.filename", reason: "'\(filename)' must be 1-100 characters without / \\ \" or line breaks")
            }
            let content = try string("content", in: obj, path: "attachment.content")
            let template = try string("template", in: obj, path: "attachment.template")
            guard (content == nil) != (template == nil) else {
                throw AlertRuleError(field: "attachment", reason: "give exactly one of content (typed in) or template (Mustache)")
            }
            if let template {
                do { _ = try MustacheTemplate(string: template) } catch {
                    throw AlertRuleError(field: "attachment.template", reason: "not a valid Mustache template: \(error)")
                }
            }
            attachment = AlertAttachment(filename: filename, format: format, content: content, template: template)
        } else {
            attachment = nil
        }
    }

    /// The stored form (what `init(json:)` reads back).
    public var json: JSONValue {
        var o: [String: JSONValue] = [
            "id": .string(id), "name": .string(name), "enabled": .bool(enabled), "time_zone": .string(timeZone),
            "pages": .array(pages.map { ["url": .string($0.pattern.description), "min_time": .string("\($0.minTimeMs / 1000)s")] }),
            "frequency": ["times": .int(Int64(frequency.times)), "per": .string(frequency.per.rawValue)],
            "recipients": ["me": .bool(recipients.me), "owner": .bool(recipients.owner), "cc": .array(recipients.cc.map(JSONValue.string))],
            "description": .string(description), "template": .string(template),
        ]
        if let createdBy { o["created_by"] = .string(createdBy) }
        if let a = attachment {
            var att: [String: JSONValue] = ["filename": .string(a.filename), "format": .string(a.format.rawValue)]
            if let c = a.content { att["content"] = .string(c) }
            if let t = a.template { att["template"] = .string(t) }
            o["attachment"] = .object(att)
        }
        return .object(o)
    }

    /// The summary shown before a rule is saved: what page, how often, to whom, the attachment.
    public var summary: String {
        let pageText = pages.map { p in
            "\(p.pattern)" + (p.pattern.coversSubpages ? " (and every page under it)" : "")
                + (p.minTimeMs > 0 ? ", after at least \(Self.durationText(p.minTimeMs)) on the page" : ", as soon as it is viewed")
        }
        var to: [String] = []
        if recipients.me, let createdBy { to.append("me (\(createdBy))") }
        if recipients.owner { to.append("the contact's owner") }
        if !recipients.cc.isEmpty { to.append("CC \(recipients.cc.joined(separator: ", "))") }
        let attachmentText =
            attachment.map { "\($0.filename) (\($0.format.rawValue), \($0.content != nil ? "typed-in content" : "rendered from a template"))" } ?? "none"
        return """
            Alert '\(name)' (\(id)) — \(enabled ? "ON" : "OFF")
              alert on: \(pageText.joined(separator: "; "))
              sent:     \(frequencyText) per contact (periods in \(timeZone))
              to:       \(to.joined(separator: ", "))
              attachment: \(attachmentText)
            """
    }

    /// The frequency in words: "once a day", "at most 3 times a week".
    public var frequencyText: String {
        (frequency.times == 1 ? "once" : "at most \(frequency.times) times") + " a \(frequency.per.rawValue)"
    }

    static func durationText(_ ms: Int64) -> String {
        let s = ms / 1000
        return s % 60 == 0 && s >= 60 ? "\(s / 60) min" : "\(s) s"
    }

    /// `once a day`, `once per week`, `3 per month`, `3 times a week`.
    static func frequency(_ text: String) -> AlertFrequency? {
        let words = text.lowercased().split(separator: " ").filter { $0 != "times" && $0 != "a" && $0 != "per" && $0 != "an" }
        guard words.count == 2, let per = AlertPeriod(rawValue: String(words[1])) else { return nil }
        let times = words[0] == "once" ? 1 : Int(words[0]) ?? 0
        guard (1...1000).contains(times) else { return nil }
        return AlertFrequency(times: times, per: per)
    }

    static func isValidId(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, s.count <= 64, CharacterSet.alphanumerics.contains(first) else { return false }
        return s.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "." || $0 == "_" || $0 == "-" }
    }

    static func slug(_ name: String) -> String {
        let folded = name.folding(options: [.diacriticInsensitive, .caseInsensitive], locale: nil).lowercased()
        var out = ""
        for c in folded.unicodeScalars {
            if ("a"..."z").contains(c) || ("0"..."9").contains(c) { out.unicodeScalars.append(c) } else if !out.hasSuffix("-") { out += "-" }
        }
        return String(out.trimmingCharacters(in: CharacterSet(charactersIn: "-")).prefix(64))
    }
}

/// Why a rule was refused: the field (`recipients.cc[2]`) and the reason.
public typealias AlertRuleError = FieldError

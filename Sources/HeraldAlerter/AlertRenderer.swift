import Foundation
import HeraldCore
import Mustache

/// Renders an alert email from `<alerts.templates_dir>/<name>/subject|text|html.mustache`
/// (`default` unless the rule names another) and the rule's attachment.
///
/// Templates see `rule` (`id`, `name`, `description`), `visit` (`url`, `at` in the
/// rule's time zone, `time_zone`, `dwell`), `contact` (the profile), `contact_name`,
/// `details` (label/value pairs of the demographic fields the profile has) and
/// `activity` (the last 10 events, newest first: `at`, `type`, `detail`).
struct AlertRenderer: Sendable {
    let library: MustacheLibrary

    /// The pragma of CSV attachments; registering the content type on first use.
    static let csvPragma: String = {
        MustacheContentTypes.register(CSVContentType(), named: "HERALD_CSV")
        return "{{% CONTENT_TYPE: HERALD_CSV}}"
    }()

    struct CSVContentType: MustacheContentType {
        func escapeText(_ text: String) -> String { CSVCell.escape(text) }
    }

    static func load(directory: String) async throws -> AlertRenderer {
        guard FileManager.default.fileExists(atPath: directory) else {
            throw AlertRendererError("alert templates directory '\(directory)' does not exist (alerts.templates_dir)")
        }
        let library = try await MustacheLibrary(directory: directory)
        guard library.getTemplate(named: "default/subject") != nil, library.getTemplate(named: "default/text") != nil else {
            throw AlertRendererError("'\(directory)/default/' needs subject.mustache and text.mustache")
        }
        return AlertRenderer(library: library)
    }

    func render(_ rule: AlertRule, data: JSONValue) -> PreparedEmail {
        let object = data.mustacheObject
        let name = library.getTemplate(named: "\(rule.template)/subject") != nil ? rule.template : "default"
        let subject = library.render(object, withTemplate: "\(name)/subject") ?? rule.name
        let text = library.render(object, withTemplate: "\(name)/text") ?? ""
        let html = library.render(object, withTemplate: "\(name)/html")
        var attachments: [EmailAttachment] = []
        if let a = rule.attachment {
            var content = a.content ?? ""
            if let source = a.template {
                // Each format escapes what it needs: HTML as HTML, CSV every value as one
                // safe cell (`CSVCell`: no formula runs when the file is opened), text and
                // JSON as they are.
                let pragma =
                    switch a.format {
                    case .html: ""
                    case .csv: Self.csvPragma
                    case .text, .json: "{{% CONTENT_TYPE: TEXT}}"
                    }
                content = (try? MustacheTemplate(string: pragma + source))?.render(object) ?? ""
            }
            attachments.append(EmailAttachment(filename: a.filename, contentType: a.format.contentType + "; charset=utf-8", content: content))
        }
        return PreparedEmail(
            subject: subject.split(whereSeparator: \.isNewline).joined(separator: " ").trimmingCharacters(in: .whitespaces),
            text: text, html: html, attachments: attachments)
    }

    /// The template data for one alert.
    static func data(rule: AlertRule, visit: PageVisit, dwellMs: Int64?, profile: ContactProfile?, contactId: String, activity: [JSONValue]) -> JSONValue {
        let profileJSON = profile?.json ?? ["id": .string(contactId)]
        let attributes = profile?.attributes ?? [:]
        func text(_ v: JSONValue?) -> String? {
            switch v {
            case .string(let s)? where !s.isEmpty: s
            case .int(let i)?: String(i)
            case .double(let d)?: String(d)
            case .bool(let b)?: b ? "yes" : "no"
            default: nil
            }
        }
        let fullName = [text(attributes["first_name"]), text(attributes["last_name"])].compactMap { $0 }.joined(separator: " ")
        let name = fullName.isEmpty ? (text(attributes["name"]) ?? "") : fullName
        var details: [(String, String?)] = [
            ("Name", name.isEmpty ? nil : name), ("Company", text(attributes["company"])), ("City", text(attributes["city"])),
            ("Phone", profile?.phone), ("Email", profile?.email), ("Owner", profile?.owner),
            ("Tags", (profile?.tags.isEmpty ?? true) ? nil : profile!.tags.sorted().joined(separator: ", ")),
        ]
        let shown: Set<String> = ["first_name", "last_name", "name", "company", "city"]
        for (key, value) in attributes.sorted(by: { $0.key < $1.key }) where !shown.contains(key) {
            if details.count >= 27 { break }
            details.append((key.replacingOccurrences(of: "_", with: " ").capitalized, text(value)))
        }
        let zone = rule.timeZone
        // Keys without a value are left out, not empty: Mustache treats an empty
        // string as true, so `{{#visit.dwell}}` would show for a view with no dwell.
        var ruleData: [String: JSONValue] = ["id": .string(rule.id), "name": .string(rule.name)]
        if !rule.description.isEmpty { ruleData["description"] = .string(rule.description) }
        var visitData: [String: JSONValue] = ["url": .string(visit.url), "at": .string(localTime(visit.at, zone)), "time_zone": .string(zone)]
        if let dwellMs { visitData["dwell"] = .string(durationText(dwellMs)) }
        return [
            "rule": .object(ruleData),
            "visit": .object(visitData),
            "contact": profileJSON,
            "contact_name": .string(name.isEmpty ? (profile?.email ?? contactId) : name),
            "details": .array(details.compactMap { label, value in value.map { ["label": .string(label), "value": .string($0)] } }),
            "activity": .array(
                activity.map { entry in
                    let at: Int64 = if case .int(let t)? = entry["at"] { t } else { 0 }
                    return ["at": .string(localTime(at, zone)), "type": entry["type"] ?? "", "detail": entry["detail"] ?? ""]
                }),
        ]
    }

    /// `2026-11-23 14:05:12` in `zone`. Shifted by the zone's offset at that
    /// moment and formatted as UTC: a DateFormatter per call cost a third of the
    /// alerter's CPU at 1,000 alerts/s (perf), and it is not safe to share.
    static func localTime(_ ms: Int64, _ zone: String) -> String {
        let tz = TimeZones.named(zone)
        let offset = Int64(tz.secondsFromGMT(for: Date(timeIntervalSince1970: Double(ms) / 1000)))
        let utc = RFC3339.format(milliseconds: ms + offset * 1000)  // 2026-11-23T14:05:12.000Z
        return String(utc.prefix(10)) + " " + String(utc.dropFirst(11).prefix(8))
    }

    static func durationText(_ ms: Int64) -> String {
        let s = ms / 1000
        return s >= 60 ? "\(s / 60) min \(s % 60) s" : "\(s) s"
    }
}

struct AlertRendererError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

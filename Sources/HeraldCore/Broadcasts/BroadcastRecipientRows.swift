/// Rows of a recipient CSV (seed 001): the first column is the phone number,
/// the others fill the template's variables in their order — `phone,
/// salutation, first name, order number` fills `{{1}}`, `{{2}}`, `{{3}}`.
///
/// Each row's values travel in its message's `event` as `"1"`, `"2"`, …; a
/// broadcast with its own `variables` maps them (`event.2`) with its defaults;
/// one without fills variable *n* from column *n + 1*, so that column must not
/// be empty (no recipient ever gets a blank).
public struct BroadcastRecipientRows: Sendable {
    /// The broadcast the rows are for.
    public let broadcast: Broadcast
    /// The country code national numbers get (`+420`); nil: numbers must be international.
    public let country: String?
    /// The file's header.
    public let header: [String]

    /// Rows for `broadcast`'s recipients, under `header`.
    /// - Throws: `BroadcastError` naming what is wrong with the header.
    public init(broadcast: Broadcast, header: [String], country: String?) throws(BroadcastError) {
        guard broadcast.channel != .email else {
            throw BroadcastError(field: "recipients", "a CSV of phone numbers is for whatsapp and sms broadcasts; email ones take an audience")
        }
        guard !header.isEmpty else { throw BroadcastError(field: "header", "the CSV has no columns; the first must be the phone number") }
        guard header.count - 1 <= TemplateVariable.maxCount else {
            throw BroadcastError(field: "header", "has \(header.count - 1) value columns; a template takes at most \(TemplateVariable.maxCount)")
        }
        self.broadcast = broadcast
        self.header = header
        self.country = country
    }

    /// A row read: the recipient's phone (E.164), its values, and its message's
    /// `event` and `variables`; or why it was refused.
    public enum Outcome: Sendable, Equatable {
        /// A recipient.
        case row(phone: String, event: [String: JSONValue], variables: [TemplateVariable])
        /// Refused: the file's line, the column's header, the reason.
        case rejected(line: Int, column: String, reason: String)
    }

    /// Reads one row (its cells and the line it starts on).
    public func read(_ cells: [String], line: Int) -> Outcome {
        let raw = cells.first ?? ""
        guard let phone = PhoneNumber.e164(raw, defaultCountry: country) else {
            return .rejected(line: line, column: header[0].clipped(), reason: raw.isEmpty ? "no phone number" : "'\(raw.prefix(40))' is not a phone number")
        }
        var event: [String: JSONValue] = [:]
        var variables = broadcast.variables
        for i in 1..<max(header.count, cells.count) {
            let value = i < cells.count ? cells[i] : ""
            guard i < header.count else {
                return .rejected(line: line, column: "column \(i + 1)", reason: "the row has more cells than the header has columns")
            }
            guard value.utf8.count <= TemplateVariable.maxDefaultBytes else {
                return .rejected(line: line, column: header[i].clipped(), reason: "longer than \(TemplateVariable.maxDefaultBytes) bytes")
            }
            if !value.isEmpty { event[String(i)] = .string(value) }
            if broadcast.variables.isEmpty {
                guard !value.isEmpty else {
                    return .rejected(line: line, column: header[i].clipped(), reason: "empty, and the broadcast sets no variables with defaults")
                }
                variables.append(TemplateVariable(field: "event.\(i)", defaultValue: value))
            }
        }
        return .row(phone: phone, event: event, variables: variables)
    }

    /// The blank CSV's header for a template of `count` variables: the phone
    /// column, then `variable_1` … in the order they fill the template.
    public static func blankHeader(variables count: Int) -> [String] { ["phone"] + (0..<max(0, count)).map { "variable_\($0 + 1)" } }
}

/// What fills one template variable (`{{1}}`, `{{2}}`, …): a dotted data field
/// (`contact.attributes.first_name`, `event.order_id`) and the text used when
/// that field is missing or empty, so no recipient ever gets a blank.
public struct TemplateVariable: Sendable, Hashable {
    /// The dotted field.
    public var field: String
    /// The text used when the field is missing or empty (never empty itself).
    public var defaultValue: String

    /// A variable showing `field`, else `defaultValue`.
    public init(field: String, defaultValue: String) {
        self.field = field
        self.defaultValue = defaultValue
    }

    /// Longest field and default, in bytes; most variables a template takes.
    public static let maxFieldBytes = 256, maxDefaultBytes = 1_024, maxCount = 20

    /// `{"field": …, "default": …}`.
    public var json: JSONValue { ["field": .string(field), "default": .string(defaultValue)] }

    /// Reads a list of `{"field", "default"}` objects, checking each.
    /// - Throws: the reason, naming the entry (`[2].default`).
    public static func list(_ json: JSONValue) throws(TemplateVariableError) -> [TemplateVariable] {
        guard let items = json.arrayValue else { throw TemplateVariableError(entry: "", "must be a list of {field, default}") }
        guard items.count <= maxCount else { throw TemplateVariableError(entry: "", "has \(items.count) entries; at most \(maxCount)") }
        var out: [TemplateVariable] = []
        for (i, item) in items.enumerated() {
            guard let field = item["field"]?.stringValue, (1...maxFieldBytes).contains(field.utf8.count),
                field.split(separator: ".", omittingEmptySubsequences: false).allSatisfy({ !$0.isEmpty })
            else { throw TemplateVariableError(entry: "[\(i)].field", "must be a dotted field of 1 to \(maxFieldBytes) bytes (contact.attributes.first_name)") }
            guard let d = item["default"]?.stringValue, (1...maxDefaultBytes).contains(d.utf8.count) else {
                throw TemplateVariableError(entry: "[\(i)].default", "must be a text of 1 to \(maxDefaultBytes) bytes (used when the field is empty)")
            }
            if let unknown = item.objectValue?.keys.sorted().first(where: { $0 != "field" && $0 != "default" }) {
                throw TemplateVariableError(entry: "[\(i)].\(unknown)", "is not a variable's field (field, default)")
            }
            out.append(TemplateVariable(field: field, defaultValue: d))
        }
        return out
    }
}

/// A template variable list that does not read.
public struct TemplateVariableError: Error, Sendable, CustomStringConvertible {
    /// Which entry (`[1].field`), "" for the list.
    public let entry: String
    /// What is wrong.
    public let reason: String

    /// `entry` refused for `reason`.
    public init(entry: String, _ reason: String) {
        self.entry = entry
        self.reason = reason
    }

    /// `<entry> <reason>`.
    public var description: String { entry.isEmpty ? reason : "\(entry) \(reason)" }
}

/// How an import's CSV columns become address-book fields:
/// `Telefon=phone,Jméno=attributes.first_name,Věk=attributes.age:int`. A target
/// is `id`, `email`, `phone`, `timezone`, `language`, `owner`, `tags`, `lists`
/// (cells of names joined by `|`) or `attributes.<name>`, which may end in a
/// type, `:text` (the default), `:int`, `:number`, `:bool` or `:date`.
/// Columns the mapping does not name are not imported.
public struct ImportMapping: Sendable, Hashable {
    /// One mapped column.
    public struct Column: Sendable, Hashable {
        /// The CSV header it reads.
        public var header: String
        /// Where it goes.
        public var target: Target
    }

    /// Where a column goes.
    public enum Target: Sendable, Hashable {
        /// The contact id (matching by id).
        case id
        /// `email`, `phone`, `timezone`, `language` or `owner`.
        case field(String)
        /// Tags to add (`|`-separated).
        case tags
        /// Lists to subscribe to (`|`-separated).
        case lists
        /// An attribute of this name and type.
        case attribute(String, AttributeType)

        /// The target as the mapping writes it.
        public var text: String {
            switch self {
            case .id: "id"
            case .field(let f): f
            case .tags: "tags"
            case .lists: "lists"
            case .attribute(let name, let type): "attributes.\(name)" + (type == .text ? "" : ":\(type.rawValue)")
            }
        }
    }

    /// How an attribute's cells are read.
    public enum AttributeType: String, Sendable, Hashable, CaseIterable {
        /// As written.
        case text
        /// A whole number.
        case int
        /// Any number.
        case number
        /// `true`/`false`, `yes`/`no`, `1`/`0`, `ano`/`ne`.
        case bool
        /// A date, `YYYY-MM-DD` (written so, it drives date triggers).
        case date
    }

    /// The mapped columns, in the mapping's order.
    public let columns: [Column]

    /// Every target name a mapping may use, for messages.
    public static let targets = ["id", "email", "phone", "timezone", "language", "owner", "tags", "lists", "attributes.<name>[:type]"]

    /// Reads `text`: pairs `Header=target` separated by commas.
    /// - Throws: `ImportError` naming the pair that is wrong.
    public init(_ text: String) throws(ImportError) {
        var columns: [Column] = []
        for pair in text.split(separator: ",", omittingEmptySubsequences: true) {
            guard let eq = pair.lastIndex(of: "=") else { throw ImportError("map: '\(pair)' is not Header=target") }
            let header = String(pair[..<eq]).trimmingSpaces, target = String(pair[pair.index(after: eq)...]).trimmingSpaces
            guard !header.isEmpty else { throw ImportError("map: '\(pair)' names no column") }
            columns.append(Column(header: header, target: try Self.target(target)))
        }
        try self.init(columns: columns)
    }

    /// A mapping of these columns.
    /// - Throws: `ImportError` when a column or a target is mapped twice, or nothing is mapped.
    public init(columns: [Column]) throws(ImportError) {
        guard !columns.isEmpty else { throw ImportError("map: no column is mapped") }
        var headers: Set<String> = [], targets: Set<String> = []
        for c in columns {
            guard headers.insert(c.header).inserted else { throw ImportError("map: column '\(c.header)' is mapped twice") }
            let key: String = if case .attribute(let name, _) = c.target { "attributes.\(name)" } else { c.target.text }
            guard targets.insert(key).inserted else { throw ImportError("map: '\(key)' is the target of two columns") }
        }
        self.columns = columns
    }

    static func target(_ text: String) throws(ImportError) -> Target {
        switch text {
        case "id": return .id
        case "email", "phone", "timezone", "language", "owner": return .field(text)
        case "tags": return .tags
        case "lists": return .lists
        default:
            guard text.hasPrefix("attributes.") else {
                throw ImportError("map: unknown target '\(text)' (one of \(targets.joined(separator: ", ")))")
            }
            var name = String(text.dropFirst("attributes.".count))
            var type = AttributeType.text
            if let colon = name.lastIndex(of: ":") {
                let t = String(name[name.index(after: colon)...])
                guard let parsed = AttributeType(rawValue: t) else {
                    throw ImportError("map: unknown type '\(t)' in '\(text)' (one of \(AttributeType.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                type = parsed
                name = String(name[..<colon])
            }
            guard !name.isEmpty, name.utf8.count <= 128, !name.contains(".") else {
                throw ImportError("map: '\(text)' needs an attribute name of 1 to 128 bytes without dots")
            }
            return .attribute(name, type)
        }
    }

    /// The mapping of the address book's own columns onto themselves (what the
    /// template and an export hold): each header names its target.
    public static func identity(headers: [String]) throws(ImportError) -> ImportMapping {
        var columns: [Column] = []
        for h in headers { columns.append(Column(header: h, target: try target(h))) }
        return try ImportMapping(columns: columns)
    }
}

/// An import that cannot start, or a row that cannot be imported: what is wrong.
public struct ImportError: Error, Sendable, CustomStringConvertible, Equatable {
    /// What is wrong, naming the column, value or parameter.
    public let description: String
    /// An error saying `description`.
    public init(_ description: String) { self.description = description }
}

extension String {
    /// The string without leading and trailing white space (Unicode's, so a
    /// no-break space from a spreadsheet goes too).
    public var trimmingSpaces: String {
        let scalars = unicodeScalars
        guard let start = scalars.firstIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        let end = scalars.lastIndex(where: { !$0.properties.isWhitespace })!
        return String(scalars[start...end])
    }

    /// The string as a row error quotes it: its first `limit` characters and
    /// "…". A cell or a header may be most of a megabyte, and row errors are
    /// kept (an import's) or sent back by the hundred (a broadcast's).
    public func clipped(to limit: Int = 64) -> String { count <= limit ? self : prefix(limit) + "…" }
}

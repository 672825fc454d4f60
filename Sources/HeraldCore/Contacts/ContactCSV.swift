/// Contacts as CSV rows: the address book's columns (`id`, `email`, `phone`,
/// `timezone`, `language`, `owner`, `lists`, `tags`) and one `attributes.<name>`
/// column per attribute, named as the import's mapping names its targets, so an
/// export imports back as it is. `lists` and `tags` hold their names joined by
/// `|`.
///
/// Written by hand rather than through a CSV library: writing is quoting alone
/// (RFC 4180), and the export streams chunks into an HTTP body, which the
/// libraries' stream-based writers do not fit.
public struct ContactCSV: Sendable {
    /// The attribute columns, in order.
    public let attributes: [String]

    /// The fixed columns, in order.
    public static let fixedColumns = ["id", "email", "phone", "timezone", "language", "owner", "lists", "tags"]

    /// Columns for these attributes.
    public init(attributes: [String]) { self.attributes = attributes }

    /// Every column name, in order.
    public var columns: [String] { Self.fixedColumns + attributes.map { "attributes.\($0)" } }

    /// The header line.
    public func header() -> [UInt8] {
        var out: [UInt8] = []
        Self.line(columns, to: &out)
        return out
    }

    /// Appends `profile`'s line to `out`.
    public func append(_ profile: ContactProfile, to out: inout [UInt8]) {
        var cells = [
            profile.id, profile.email ?? "", profile.phone ?? "", profile.timeZone ?? "", profile.language ?? "", profile.owner ?? "",
            profile.lists.sorted().joined(separator: "|"), profile.tags.sorted().joined(separator: "|"),
        ]
        for name in attributes { cells.append(Self.text(profile.attributes[name])) }
        Self.line(cells, to: &out)
    }

    /// The attribute names these profiles have, sorted.
    public static func attributeNames(_ profiles: [ContactProfile]) -> [String] {
        Set(profiles.flatMap(\.attributes.keys)).sorted()
    }

    /// A value as a cell: text as it is, numbers and booleans as JSON writes
    /// them, objects and arrays as JSON; nothing for a missing value or null.
    static func text(_ value: JSONValue?) -> String {
        switch value {
        case nil, .null?: ""
        case .string(let s)?: s
        case let v?: String(decoding: v.serialized(), as: UTF8.self)
        }
    }

    /// One CSV line, CRLF-terminated (RFC 4180).
    public static func line(_ cells: [String], to out: inout [UInt8]) {
        for (i, cell) in cells.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            field(cell, to: &out)
        }
        out.append(contentsOf: [0x0D, 0x0A])
    }

    /// One field, quoted when it holds a comma, quote or line break. A cell a
    /// spreadsheet would run as a formula (`=`, `@`, a tab or CR first, or `+`/`-`
    /// not followed by a digit, so phone numbers and negative numbers stay as
    /// they are) gets a leading `'`: an export opened in Excel must not run what
    /// a contact typed into a form (CSV injection).
    static func field(_ cell: String, to out: inout [UInt8]) {
        var bytes = Array(cell.utf8)
        if let first = bytes.first {
            let second = bytes.count > 1 ? bytes[1] : 0
            let isDigit = (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(second)
            if first == UInt8(ascii: "=") || first == UInt8(ascii: "@") || first == 0x09 || first == 0x0D
                || ((first == UInt8(ascii: "+") || first == UInt8(ascii: "-")) && !isDigit)
            {
                bytes.insert(UInt8(ascii: "'"), at: 0)
            }
        }
        guard bytes.contains(where: { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "\"") || $0 == 0x0A || $0 == 0x0D }) else {
            out.append(contentsOf: bytes)
            return
        }
        out.append(UInt8(ascii: "\""))
        for b in bytes {
            if b == UInt8(ascii: "\"") { out.append(b) }
            out.append(b)
        }
        out.append(UInt8(ascii: "\""))
    }
}

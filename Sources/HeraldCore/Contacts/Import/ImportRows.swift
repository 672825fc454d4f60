/// Turns CSV rows into contact changes under an `ImportMapping`, row by row,
/// with every problem of a row reported by line, column and reason.
public struct ImportRows: Sendable {
    /// Where each mapped column is in the header.
    let indexed: [(index: Int, column: ImportMapping.Column)]
    /// Where the contact id is, if the mapping names it.
    let idIndex: Int?
    /// What a row finds its contact by.
    public let match: ImportMatch
    /// Where the email or phone that rows are matched by is (match by email or phone).
    let keyIndex: Int?
    /// Lists every row joins (`--list`), besides a `lists` column.
    let lists: [String]
    /// The country code a national phone number gets (`+420`); nil: numbers must be international.
    let defaultCountry: String?
    /// The header's fields: a row with more, the extra ones not empty, is rejected.
    let headerCount: Int

    /// A reader of rows under `header`.
    /// - Throws: `ImportError` naming a mapped column the header lacks, or a
    ///   missing column of the match key (`id`, `email` or `phone`).
    public init(mapping: ImportMapping, header: [String], lists: [String], defaultCountry: String?, match: ImportMatch = .id) throws(ImportError) {
        var indexed: [(Int, ImportMapping.Column)] = []
        for c in mapping.columns {
            guard let i = header.firstIndex(of: c.header) else {
                // The first columns only: a header may be a megabyte, and the
                // message is stored with the job and shown by every GET of it.
                let shown = header.prefix(20).map { $0.clipped() }.joined(separator: ", ")
                let more = header.count > 20 ? " and \(header.count - 20) more" : ""
                throw ImportError("map: the file has no column '\(c.header.clipped())' (its columns: \(shown)\(more))")
            }
            indexed.append((i, c))
        }
        let id = indexed.first(where: { $0.1.target == .id })?.0
        switch match {
        case .id where id == nil:
            throw ImportError("map: name the column that holds the contact id (…=id), or match by email or phone")
        case .email, .phone:
            guard let key = indexed.first(where: { $0.1.target == .field(match.rawValue) })?.0 else {
                throw ImportError("map: this import matches by \(match.rawValue); name the column that holds it (…=\(match.rawValue))")
            }
            self.keyIndex = key
        case .id: self.keyIndex = nil
        }
        if let country = defaultCountry {
            guard country.hasPrefix("+"), (2...4).contains(country.utf8.count), country.utf8.dropFirst().allSatisfy({ (48...57).contains($0) }) else {
                throw ImportError("country: '\(country)' is not a country calling code such as +420")
            }
        }
        self.indexed = indexed
        self.headerCount = header.count
        self.idIndex = id
        self.match = match
        self.lists = lists
        self.defaultCountry = defaultCountry
    }

    /// One problem of one row.
    public struct RowError: Sendable, Equatable {
        /// The line the row starts on (the header is line 1).
        public var line: Int
        /// The column's header ("" for the row as a whole).
        public var column: String
        /// What is wrong.
        public var reason: String

        /// A problem of the row starting on `line`, in `column` ("" for the row).
        public init(line: Int, column: String, reason: String) {
            self.line = line
            self.column = column
            self.reason = reason
        }
    }

    /// A row that can be imported.
    public struct Row: Sendable, Equatable {
        /// The contact id of the row's `id` column; nil when the mapping has none
        /// (an import matching by email or phone then derives it, `ImportMatch.derivedId`).
        public var contactId: String?
        /// The email (lower case) or E.164 phone the row is matched by; nil when matching by id.
        public var matchKey: String?
        /// The change, as a PATCH body (`ContactInput` checked it).
        public var body: JSONValue
        /// The change itself.
        public var change: ContactChange
    }

    /// What a row read as.
    public enum Outcome: Sendable, Equatable {
        /// A row to import.
        case row(Row)
        /// Every problem the row has; nothing of it is imported.
        case rejected([RowError])
    }

    /// Reads the row `cells` that starts on `line`.
    public func read(_ cells: [String], line: Int) -> Outcome {
        var errors: [RowError] = []
        func fail(_ column: String, _ reason: String) { errors.append(RowError(line: line, column: column.clipped(), reason: reason)) }
        // More fields than the header has: most often a delimiter inside an
        // unquoted field, which shifts every later field into the wrong column,
        // so the row is not imported as it reads. Empty extra fields (a trailing
        // delimiter, as some exports write) change nothing and pass.
        if cells.count > headerCount, cells[headerCount...].contains(where: { !$0.trimmingSpaces.isEmpty }) {
            fail(
                "",
                "the row has \(cells.count) fields and the header \(headerCount): a delimiter inside a field that is not quoted?")
        }
        var id: String?
        if let idIndex {
            let cell = idIndex < cells.count ? cells[idIndex].trimmingSpaces : ""
            let header = indexed.first { $0.index == idIndex }!.column.header
            if cell.utf8.count > 256 {
                fail(header, "the contact id is longer than 256 bytes")
            } else if cell.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
                // The intake refuses such an id (`EventValidator`): the row would be counted and lost.
                fail(header, "the contact id contains a control character (a tab or a line break?)")
            } else if !cell.isEmpty {
                id = cell
            } else if match == .id {
                fail(header, "the contact id is empty")
            }
        }
        if let keyIndex, keyIndex >= cells.count || cells[keyIndex].trimmingSpaces.isEmpty {
            fail(indexed.first { $0.index == keyIndex }!.column.header, "the \(match.rawValue) is empty, and this import matches by it")
        }
        var body: [String: JSONValue] = [:]
        var attributes: [String: JSONValue] = [:]
        var tags: [JSONValue] = [], rowLists: [JSONValue] = lists.map(JSONValue.string)
        for (index, column) in indexed where index != idIndex {
            let cell = index < cells.count ? cells[index].trimmingSpaces : ""
            if cell.isEmpty { continue }
            switch column.target {
            case .id: break
            case .field("phone"):
                guard let phone = PhoneNumber.e164(cell, defaultCountry: defaultCountry) else {
                    fail(
                        column.header,
                        "'\(cell.clipped())' is not a phone number" + (defaultCountry == nil ? " in international form (+420…); pass a default country" : ""))
                    continue
                }
                body["phone"] = .string(phone)
            case .field("email") where !ContactInput.isEmail(cell):
                // Checked here too, so that a row with several problems reports them all.
                fail(column.header, "'\(cell.clipped())' is not an email address")
            case .field(let f): body[f] = .string(cell)
            case .tags: tags += Self.names(cell).map(JSONValue.string)
            case .lists: rowLists += Self.names(cell).map(JSONValue.string)
            case .attribute(let name, let type):
                guard let value = Self.value(cell, type) else {
                    fail(
                        column.header,
                        "'\(cell.clipped())' is not \(type == .int ? "a whole number" : type == .number ? "a number" : type == .bool ? "true or false" : "a date (YYYY-MM-DD or D.M.YYYY)")"
                    )
                    continue
                }
                attributes[name] = value
            }
        }
        if !attributes.isEmpty { body["attributes"] = .object(attributes) }
        if !tags.isEmpty { body["tags"] = .array(tags) }
        if !rowLists.isEmpty { body["lists"] = .array(rowLists) }
        guard errors.isEmpty else { return .rejected(errors) }
        do {
            let change = try ContactInput.change(fromBody: .object(body), replace: false)
            let key = body[match.rawValue]?.stringValue.map(match.normalized)
            return .row(Row(contactId: id, matchKey: match == .id ? nil : key, body: .object(body), change: change))
        } catch {
            let header = indexed.first { $0.column.target.text == error.field || $0.column.target == .field(error.field) }?.column.header ?? error.field
            // The reason may quote the value (a time zone that is not one): bounded as a cell is.
            let reason = error.reason.clipped(to: 300)
            return .rejected([RowError(line: line, column: header.clipped(), reason: reason)])
        }
    }

    /// `a|b|c` as names, blanks dropped.
    static func names(_ cell: String) -> [String] { cell.split(separator: "|").map { String($0).trimmingSpaces }.filter { !$0.isEmpty } }

    /// A cell read as `type`, or nil when it is not one.
    public static func value(_ cell: String, _ type: ImportMapping.AttributeType) -> JSONValue? {
        switch type {
        case .text: return .string(cell)
        case .int: return Int64(cell).map(JSONValue.int)
        case .number:
            if let i = Int64(cell) { return .int(i) }
            // A decimal comma, as Czech spreadsheets write it.
            guard let d = Double(cell.replacingOccurrences(of: ",", with: ".")), d.isFinite else { return nil }
            return .double(d)
        case .bool:
            switch cell.lowercased() {
            case "true", "yes", "1", "ano", "y": return .bool(true)
            case "false", "no", "0", "ne", "n": return .bool(false)
            default: return nil
            }
        case .date: return ImportDate.iso(cell).map(JSONValue.string)
        }
    }
}

/// What an import matches rows to contacts by.
public enum ImportMatch: String, Sendable, CaseIterable {
    /// The `id` column: the contact id itself.
    case id
    /// The email address, compared in lower case.
    case email
    /// The phone number, as E.164 (after `PhoneNumber.e164`).
    case phone

    /// The form a value is compared in: email trimmed and lowercased; phone and id trimmed.
    public func normalized(_ value: String) -> String {
        self == .email ? value.trimmingSpaces.lowercased() : value.trimmingSpaces
    }

    /// The id a new contact gets when no row names one: `email-` or `phone-`
    /// and 24 hex digits of the SHA-256 of the key. The same key always makes
    /// the same id, so importing a file again (or resuming it) finds or makes
    /// the same contacts, and the id does not spell out the address.
    public func derivedId(_ key: String) -> String {
        "\(rawValue)-" + Hashing.hex(Hashing.sha256(Array("herald-import\u{1F}\(rawValue)\u{1F}\(key)".utf8)).prefix(12))
    }
}

/// Dates as imports meet them: `2026-12-06`, or the Czech `6.12.2026`.
public enum ImportDate {
    /// The date as `YYYY-MM-DD`, or nil when it is none.
    public static func iso(_ cell: String) -> String? {
        let digits = { (s: Substring) in !s.isEmpty && s.utf8.allSatisfy { (48...57).contains($0) } }
        let (y, m, d): (Int, Int, Int)
        if cell.contains("-") {
            let p = cell.split(separator: "-", omittingEmptySubsequences: false)
            guard p.count == 3, p[0].count == 4, p[1].count == 2, p[2].count == 2, p.allSatisfy(digits) else { return nil }
            (y, m, d) = (Int(p[0])!, Int(p[1])!, Int(p[2])!)
        } else {
            let p = cell.split(separator: ".", omittingEmptySubsequences: false).map { $0.drop { $0 == " " } }
            guard p.count == 3, p[2].count == 4, (1...2).contains(p[0].count), (1...2).contains(p[1].count), p.allSatisfy(digits) else { return nil }
            (y, m, d) = (Int(p[2])!, Int(p[1])!, Int(p[0])!)
        }
        guard (1...12).contains(m), d >= 1, d <= RFC3339.daysIn(month: m, year: y) else { return nil }
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(y)-\(two(m))-\(two(d))"
    }
}

/// Phone numbers as people write them, made E.164.
public enum PhoneNumber {
    /// `+420 601 234 567`, `00420601234567`, `(601) 234-567` with `defaultCountry`
    /// `+420`, … as `+420601234567`; nil when no E.164 number comes of it. A
    /// national number's trunk `0` is dropped (`0601…` → `+420601…`).
    public static func e164(_ raw: String, defaultCountry: String?) -> String? {
        var kept = ""
        for (i, c) in raw.enumerated() {
            if c.isASCII, c.isNumber {
                kept.append(c)
            } else if c == "+" && i == 0 {
                kept.append(c)
            } else if !" -./()\u{00A0}".contains(c) {
                return nil
            }
        }
        let number: String
        if kept.hasPrefix("+") {
            number = kept
        } else if kept.hasPrefix("00") {
            number = "+" + kept.dropFirst(2)
        } else if let country = defaultCountry {
            number = country + (kept.hasPrefix("0") ? String(kept.dropFirst()) : kept)
        } else {
            return nil
        }
        return ContactInput.isE164(number) ? number : nil
    }
}

extension ImportRows {
    /// What a column's cells look like (for a dry run): `empty`, `int`,
    /// `number`, `bool`, `date`, `email`, `phone` or `text`. A number with a
    /// leading zero is text: it is a code (a postcode, an account), not a number.
    public static func detectType(_ cells: [String]) -> String {
        let values = cells.map(\.trimmingSpaces).filter { !$0.isEmpty }
        guard !values.isEmpty else { return "empty" }
        func all(_ test: (String) -> Bool) -> Bool { values.allSatisfy(test) }
        if all({ Int64($0) != nil && !($0.hasPrefix("0") && $0.count > 1) }) { return "int" }
        if all({ value($0, .number) != nil && !$0.hasPrefix("0") }) { return "number" }
        if all({ value($0, .bool) != nil }) { return "bool" }
        if all({ ImportDate.iso($0) != nil }) { return "date" }
        if all({ ContactInput.isEmail($0) }) { return "email" }
        if all({ PhoneNumber.e164($0, defaultCountry: "+1") != nil }) { return "phone" }
        return "text"
    }
}

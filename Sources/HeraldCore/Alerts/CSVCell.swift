/// One value as a cell of a CSV file that a spreadsheet opens safely.
///
/// Alert attachments are CSV templates filled with what contacts typed (names,
/// companies, form fields). A value such as `=HYPERLINK("http://evil.example")`
/// or `+cmd|' /C calc'!A0` would run as a formula when a sales person opens the
/// file (CSV injection, OWASP). So a value starting with `=`, `+`, `-`, `@`, a
/// tab or a carriage return gets a leading `'`, which spreadsheets show as text;
/// and a value holding a comma, quote or line break is quoted, its quotes doubled.
public enum CSVCell {
    static let formulaStarts: Set<Character> = ["=", "+", "-", "@", "\t", "\r"]

    /// `value` escaped as one CSV cell.
    public static func escape(_ value: String) -> String {
        var cell = value
        if let first = cell.unicodeScalars.first, formulaStarts.contains(Character(first)) { cell = "'" + cell }
        guard cell.contains(where: { $0 == "," || $0 == "\"" || $0.isNewline || $0 == ";" }) else { return cell }
        return "\"" + cell.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

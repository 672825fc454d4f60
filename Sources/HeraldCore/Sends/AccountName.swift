/// The name of a sending account (a WhatsApp phone number): what a campaign's
/// send step and a send request name, and the file name of its configuration
/// (`config/accounts/whatsapp/<name>.yaml`). Kept to a file-name- and
/// metric-label-safe alphabet so that no name can escape the directory or a label.
public enum AccountName {
    /// The rule, as refusals state it.
    public static let rule = "an account name is 1 to 64 of a-z, 0-9, '_' and '-', starting with a letter or digit"

    /// Whether `name` follows `rule`.
    public static func isValid(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...64).contains(bytes.count), let first = bytes.first, isLetterOrDigit(first) else { return false }
        return bytes.allSatisfy { isLetterOrDigit($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
    }

    static func isLetterOrDigit(_ b: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(b) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b)
    }
}

/// A template language code as WhatsApp names them (`cs`, `en_US`, `zh_Hant_HK`):
/// letters with `_` or `-` between parts.
public enum TemplateLanguage {
    /// The rule, as refusals state it.
    public static let rule = "a language code is 2 to 15 letters with '_' or '-' between parts (cs, en_US)"

    /// Whether `code` follows `rule`.
    public static func isValid(_ code: String) -> Bool {
        let bytes = Array(code.utf8)
        guard (2...15).contains(bytes.count) else { return false }
        let parts = code.split(omittingEmptySubsequences: false) { $0 == "_" || $0 == "-" }
        return parts.allSatisfy { !$0.isEmpty && $0.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("A"..."Z").contains($0) } }
    }
}

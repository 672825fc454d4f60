import Yams

/// YAML (and so JSON, its subset) read into a `JSONValue`, for documents that
/// arrive both as files and over HTTP and are checked by one validator.
public enum YAMLValue {
    /// - Throws: `AlertRuleError` with the line of a YAML syntax error, or when
    ///   the document is empty.
    public static func parse(_ text: String) throws(AlertRuleError) -> JSONValue {
        guard let value = try document(text) else { throw AlertRuleError(field: "", reason: "the document is empty") }
        return value
    }

    /// The document, or nil when it holds nothing (only comments or blanks): for
    /// files where that means "all defaults".
    /// - Throws: `AlertRuleError` with the line of a YAML syntax error.
    public static func document(_ text: String) throws(AlertRuleError) -> JSONValue? {
        do {
            return try YAMLDocument.compose(text).map(convert)
        } catch {
            switch error {
            case .refused(let line, let reason): throw AlertRuleError(field: "", reason: "not valid YAML (line \(line)): \(reason)")
            case .yaml(let error): throw AlertRuleError(field: "", reason: "not valid YAML (line \(CampaignParser.line(of: error))): \(error)")
            case .other(let error): throw AlertRuleError(field: "", reason: "not valid YAML: \(error)")
            }
        }
    }

    static func convert(_ node: Node) -> JSONValue {
        switch node {
        case .mapping(let m):
            var out: [String: JSONValue] = [:]
            for (k, v) in m { out[k.string ?? "\(k)"] = convert(v) }
            return .object(out)
        case .sequence(let s):
            return .array(s.map(convert))
        case .scalar(let s):
            // The resolver tagged plain scalars; a quoted "123" stays a string.
            switch node.tag.description {
            case "tag:yaml.org,2002:null": return .null
            case "tag:yaml.org,2002:bool": return node.bool.map(JSONValue.bool) ?? .string(s.string)
            case "tag:yaml.org,2002:int": return integer(s).map { .int(Int64($0)) } ?? .string(s.string)
            case "tag:yaml.org,2002:float": return node.float.map(JSONValue.double) ?? .string(s.string)
            default: return .string(s.string)
            }
        }
    }

    /// A plain scalar as YAML 1.1 reads an integer (decimal, `0x`/`0o`/`0b`/`0`
    /// prefixed, or base 60 as in `1:30`), or nil — what Yams' `Int.construct`
    /// gives, except that a base-60 value past `Int` is nil. Yams computes base 60
    /// without checking for overflow and traps (`9223372036854775807:08`, or a
    /// dozen `:00`s), and these documents come over HTTP (found by `scripts/fuzz`).
    public static func integer(_ scalar: Node.Scalar) -> Int? {
        guard scalar.style == .plain || scalar.style == .any else { return nil }
        let text = scalar.string.replacingOccurrences(of: "_", with: "")
        var digits = Substring(text)
        let negative = digits.hasPrefix("-")
        if negative || digits.hasPrefix("+") { digits = digits.dropFirst() }
        // Prefixed forms and plain decimals: Yams' own reading, which cannot trap.
        guard digits.contains(":"), !digits.hasPrefix("0") else { return Int.construct(from: scalar) }
        var value = 0
        for part in digits.split(separator: ":", omittingEmptySubsequences: false) {
            guard let digit = Int(part, radix: 10), digit >= 0 else { return nil }
            let (shifted, overflow) = value.multipliedReportingOverflow(by: 60)
            let (sum, carry) = shifted.addingReportingOverflow(digit)
            if overflow || carry { return nil }
            value = sum
        }
        return negative ? -value : value
    }
}

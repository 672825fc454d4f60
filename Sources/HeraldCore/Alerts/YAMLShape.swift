/// A check of a YAML document's shape before libyaml and Yams see it.
///
/// Yams builds its node tree recursively, one stack frame pair per level: a
/// document of a few thousand nested `{` or `[` overflowed the stack and stopped
/// the process (found by `scripts/fuzz`, campaigns and alerts families, on
/// 2026-12-06). Campaigns and alert rules arrive over HTTP, so the nesting is
/// bounded here, as `JSONParser` bounds JSON's. Aliases (`*name`) are refused too:
/// each one copies its anchor's whole subtree when the tree is read, so a few
/// lines of nested aliases expand to billions of nodes.
///
/// The count is conservative: block indentation levels, `- ` entries opened on
/// one line and open flow brackets, outside quotes, comments and block scalars.
/// It can only over-count, and real documents sit far below the limit.
public enum YAMLShape {
    /// The deepest nesting a document may have.
    public static let maximumDepth = 64

    /// Why a document is refused, and on which line (1-based).
    public struct Refusal: Error, Sendable, Equatable {
        /// The line at fault, from 1.
        public var line: Int
        /// What is wrong there.
        public var reason: String

        /// A refusal at `line`.
        public init(line: Int, reason: String) {
            self.line = line
            self.reason = reason
        }
    }

    /// Checks `text`; nil when its shape is acceptable.
    public static func refusal(_ text: String) -> Refusal? {
        var indents: [Int] = []  // the block indentation levels open
        var flow = 0  // open `[` / `{`
        var blockScalarIndent: Int? = nil  // inside `|` / `>` content deeper than this
        var lineNumber = 0
        // Every line break libyaml knows (CR, CR LF, LF, NEL, LS, PS) ends a line
        // here too: a document of CR-separated lines once hid its nesting
        // (found by scripts/fuzz, campaigns family).
        for line in text.split(omittingEmptySubsequences: false, whereSeparator: { Self.lineBreaks.contains($0) }) {
            lineNumber += 1
            let bytes = Array(line.utf8)
            var i = 0
            while i < bytes.count, bytes[i] == UInt8(ascii: " ") { i += 1 }
            let indent = i
            let blank = i == bytes.count || bytes[i] == UInt8(ascii: "#") || bytes[i] == UInt8(ascii: "\r")
            if let limit = blockScalarIndent {
                if blank || indent > limit { continue }
                blockScalarIndent = nil
            }
            if blank { continue }
            if flow == 0 {
                while let last = indents.last, last > indent { indents.removeLast() }
                if indents.last != indent { indents.append(indent) }
            }
            // `- - - x` opens a sequence per dash on one line.
            var dashes = 0
            while i + 1 < bytes.count, bytes[i] == UInt8(ascii: "-"), bytes[i + 1] == UInt8(ascii: " ") {
                dashes += 1
                i += 2
                while i < bytes.count, bytes[i] == UInt8(ascii: " ") { i += 1 }
            }
            var quote: UInt8? = nil
            var previous = UInt8(ascii: " ")
            while i < bytes.count {
                let c = bytes[i]
                if let q = quote {
                    if c == UInt8(ascii: "\\") && q == UInt8(ascii: "\"") {
                        i += 1
                    } else if c == q {
                        quote = nil
                    }
                } else {
                    switch c {
                    case UInt8(ascii: "\""), UInt8(ascii: "'"):
                        if Self.startsNode(previous) { quote = c }
                    case UInt8(ascii: "#") where previous == UInt8(ascii: " ") || previous == UInt8(ascii: "\t"):
                        i = bytes.count
                        continue
                    case UInt8(ascii: "["), UInt8(ascii: "{"):
                        if Self.startsNode(previous) || flow > 0 { flow += 1 }
                    case UInt8(ascii: "]"), UInt8(ascii: "}"):
                        if flow > 0 { flow -= 1 }
                    case UInt8(ascii: "*"):
                        if Self.startsNode(previous), i + 1 < bytes.count, bytes[i + 1] != UInt8(ascii: " ") {
                            return Refusal(line: lineNumber, reason: "aliases (*name) are not supported")
                        }
                    default: break
                    }
                    if indents.count + dashes + flow > maximumDepth {
                        return Refusal(line: lineNumber, reason: "nested more than \(maximumDepth) levels deep")
                    }
                }
                previous = c
                i += 1
            }
            if indents.count + dashes + flow > maximumDepth {
                return Refusal(line: lineNumber, reason: "nested more than \(maximumDepth) levels deep")
            }
            // A block scalar's content follows: its indentation is text, not nesting.
            if quote == nil, flow == 0, Self.endsWithBlockScalarHeader(bytes) { blockScalarIndent = indent }
        }
        return nil
    }

    /// libyaml's line breaks (`\r\n` is one `Character` in Swift).
    static let lineBreaks: Set<Character> = ["\n", "\r", "\r\n", "\u{85}", "\u{2028}", "\u{2029}"]

    /// Whether a character can come right before the start of a node (so that a
    /// quote, bracket or `*` there is YAML syntax, not part of a plain scalar).
    static func startsNode(_ previous: UInt8) -> Bool {
        switch previous {
        case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "["), UInt8(ascii: "{"), UInt8(ascii: ","), UInt8(ascii: ":"), UInt8(ascii: "-"),
            UInt8(ascii: "?"):
            true
        default: false
        }
    }

    /// Whether the line ends with a block scalar header (`|`, `>`, `|-`, `>+2`, …).
    static func endsWithBlockScalarHeader(_ bytes: [UInt8]) -> Bool {
        var end = bytes.count
        while end > 0, bytes[end - 1] == UInt8(ascii: " ") || bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        var j = end
        while j > 0, [UInt8(ascii: "-"), UInt8(ascii: "+")].contains(bytes[j - 1]) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[j - 1]) { j -= 1 }
        guard j > 0, bytes[j - 1] == UInt8(ascii: "|") || bytes[j - 1] == UInt8(ascii: ">") else { return false }
        return j == 1 || bytes[j - 2] == UInt8(ascii: " ")
    }
}

import Foundation
import Yams

/// Yams' `compose`, made safe for documents from outside: bounded in size, run on
/// a thread whose stack fits the deepest tree the text could hold, and refused
/// when the tree is nested deeper than `YAMLShape.maximumDepth`.
///
/// Yams builds (and Swift frees) the node tree recursively, a few stack frames
/// per level. `YAMLShape` refuses deep documents before Yams sees them, but it
/// reads YAML's syntax approximately, and a document it misreads (a quote inside
/// a plain scalar, `i "d: {{{…`, found by `scripts/fuzz`, campaigns family, on
/// 2026-12-06) reached Yams thousands of levels deep and overflowed the stack.
/// This is the guarantee that does not depend on reading YAML right: every level
/// of nesting needs one of `[ { : - ?`, so their count bounds the depth, and the
/// parse runs on a stack sized for that bound. Only a tree within the depth
/// limit leaves that thread; a deeper one is freed there.
///
/// Deep flow nesting also costs time: libyaml rechecks every open flow level
/// for each token, so a document of 100,000 `[` took 118 s to refuse (debug
/// build, 2026-12-06) and 4,000 took 0.19 s. Counting `[ {` against `] }` with
/// quotes ignored overcounts but never undercounts flow depth, so a document
/// whose count passes `maximumOpenBrackets` is refused before libyaml runs; no
/// real campaign has a thousand unclosed brackets, even inside its strings.
///
/// The calling thread waits for the parse (a campaign or an alert rule: well
/// under a millisecond); it would have spent that time parsing anyway.
public enum YAMLDocument {
    /// The largest document read (campaigns and alert rules are a few KB).
    public static let maximumBytes = 256 * 1024

    /// The most `[` or `{` open at once, counted with quotes ignored.
    public static let maximumOpenBrackets = 1024

    /// Stack bytes per possible level. The debug build's recursion takes about
    /// 1.3 KiB per flow level and 1.9 KiB per block mapping level (measured on
    /// 2026-12-06 by parsing 500/1,000 flow and 300/600 block levels on threads
    /// of shrinking stacks until they overflowed); twice that leaves margin.
    static let stackPerLevel = 4096

    /// Why a document is refused, and on which line (1-based).
    public enum Failure: Error {
        /// Too large, or nested too deep.
        case refused(line: Int, reason: String)
        /// libyaml or Yams refused it.
        case yaml(YamlError)
        /// Anything else Yams threw.
        case other(any Error)
    }

    /// The document's root node (nil when it holds nothing), nested at most
    /// `YAMLShape.maximumDepth` levels.
    public static func compose(_ text: String) throws(Failure) -> Node? {
        let bytes = text.utf8.count
        guard bytes <= maximumBytes else {
            throw .refused(line: 1, reason: "the document is \(bytes) bytes, more than the limit of \(maximumBytes)")
        }
        if let refusal = YAMLShape.refusal(text) { throw .refused(line: refusal.line, reason: refusal.reason) }
        var bound = 2
        var open = 0
        var line = 1
        for b in text.utf8 {
            switch b {
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                bound += 1
                open += 1
                guard open <= maximumOpenBrackets else {
                    throw .refused(line: line, reason: "more than \(maximumOpenBrackets) [ or { open at once (counting those in quoted text)")
                }
            case UInt8(ascii: "]"), UInt8(ascii: "}"): open = max(0, open - 1)
            case UInt8(ascii: ":"), UInt8(ascii: "-"), UInt8(ascii: "?"): bound += 1
            case UInt8(ascii: "\n"): line += 1
            default: break
            }
        }
        let outcome = OnLargeStack.run(stackBytes: (1 << 20) + bound * stackPerLevel) { () -> Result<Node?, Failure> in
            let root: Node?
            do {
                root = try Yams.compose(yaml: text)
            } catch let error as YamlError {
                return .failure(.yaml(error))
            } catch {
                return .failure(.other(error))
            }
            if let root, let line = deeper(than: YAMLShape.maximumDepth, root) {
                return .failure(.refused(line: line, reason: "nested more than \(YAMLShape.maximumDepth) levels deep"))
            }
            return .success(root)
        }
        return try outcome.get()
    }

    /// The line of a node nested deeper than `limit`, or nil.
    static func deeper(than limit: Int, _ node: Node, depth: Int = 1) -> Int? {
        guard depth <= limit else { return (node.mark?.line ?? 1) }
        switch node {
        case .scalar: return nil
        case .sequence(let s):
            for child in s { if let line = deeper(than: limit, child, depth: depth + 1) { return line } }
        case .mapping(let m):
            for (k, v) in m {
                if let line = deeper(than: limit, k, depth: depth + 1) ?? deeper(than: limit, v, depth: depth + 1) { return line }
            }
        }
        return nil
    }
}

/// Runs a function on a new thread with a stack of a given size, and waits.
enum OnLargeStack {
    /// The result crosses threads once, after the thread has finished with it
    /// (the semaphore orders the write before the read).
    private final class Slot<T>: @unchecked Sendable {
        var value: T?
    }

    static func run<T>(stackBytes: Int, _ body: @escaping () -> T) -> T {
        let slot = Slot<T>()
        let done = DispatchSemaphore(value: 0)
        let work = UnsafeSendable(body)
        let thread = Thread {
            slot.value = work.value()
            done.signal()
        }
        // Rounded up to whole pages, as pthread requires.
        thread.stackSize = (stackBytes + 65_535) / 65_536 * 65_536
        thread.start()
        done.wait()
        return slot.value!
    }

    /// The body runs on exactly one other thread while the caller waits.
    private struct UnsafeSendable<V>: @unchecked Sendable {
        let value: V
        init(_ value: V) { self.value = value }
    }
}

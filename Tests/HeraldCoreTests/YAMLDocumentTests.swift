import Foundation
import Testing

@testable import HeraldCore

@Suite("YAML documents: parsed on a stack sized for their worst nesting, deep trees refused")
struct YAMLDocumentTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test("the fuzzer's finding: a quote inside a plain scalar hides deep flow nesting from YAMLShape; the parse refuses it instead of overflowing the stack")
    func quoteInPlainScalar() throws {
        let finding = try String(contentsOf: Self.root.appendingPathComponent("Fuzz/corpus/yaml-quote-in-plain-deep-flow.txt"), encoding: .utf8)
        #expect { try CampaignParser.parse(finding, file: "deep.yaml") } throws: { "\($0)".contains("not valid YAML") }
        #expect { try YAMLValue.parse(finding) } throws: { "\($0)".contains("not valid YAML") }
    }

    @Test("1,000 levels behind a misread quote are parsed on a large enough stack and refused as too deep")
    func deepBehindQuote() {
        // YAMLShape reads `"d: [[[` as the start of a quoted string and sees no nesting;
        // YAML reads it as a plain scalar followed by a key and a flow sequence.
        let text = "i \"d: " + String(repeating: "[", count: 1000) + String(repeating: "]", count: 1000)
        #expect(YAMLShape.refusal(text) == nil, "the heuristic misses it, so this test exercises the parse's own bound")
        // Called from a thread whose 256 KiB stack could not hold the 1,000 levels
        // (they need about 1.3 MiB): only the parse's own thread keeps this alive.
        let outcome = OnLargeStack.run(stackBytes: 256 * 1024) { Result { () throws(YAMLDocument.Failure) in try YAMLDocument.compose(text) } }
        guard case .failure(.refused(let line, let reason)) = outcome else {
            Issue.record("expected a refusal, got \(outcome)")
            return
        }
        #expect(line == 1 && reason == "nested more than 64 levels deep")
        #expect { try CampaignParser.parse(text, file: "c.yaml") } throws: { "\($0)".contains("nested more than 64 levels deep") }
    }

    @Test("100,000 brackets open at once are refused before libyaml, whose time grows with the square of the depth")
    func tooManyOpenBrackets() {
        let text = "i \"d: " + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect { try YAMLDocument.compose(text) } throws: { error in
            guard case .refused(1, let reason) = error as? YAMLDocument.Failure else { return false }
            return reason == "more than 1024 [ or { open at once (counting those in quoted text)"
        }
        // Brackets that close again do not add up, however many there are.
        let balanced = "t: \"" + String(repeating: "{{name}} ", count: 5000) + "\"\n"
        #expect((try? YAMLDocument.compose(balanced)) != nil)
    }

    @Test("at the limit the tree is returned whole; one level more is refused")
    func atTheLimit() throws {
        // The root mapping is level 1, the key's value level 2, so 62 brackets nest 64 levels.
        let atLimit = "i \"d: " + String(repeating: "[", count: 62) + "x" + String(repeating: "]", count: 62)
        let node = try YAMLDocument.compose(atLimit)
        var depth = 0
        var current = node
        while let n = current {
            depth += 1
            switch n {
            case .mapping(let m): current = m.first?.value
            case .sequence(let s): current = s.first
            case .scalar: current = nil
            }
        }
        #expect(depth == 64)
        let over = "i \"d: " + String(repeating: "[", count: 63) + "x" + String(repeating: "]", count: 63)
        #expect(throws: YAMLDocument.Failure.self) { try YAMLDocument.compose(over) }
    }

    @Test("a document larger than the limit is refused before it is read, naming its size")
    func sizeLimit() throws {
        let big = "a: " + String(repeating: "x", count: YAMLDocument.maximumBytes)
        #expect { try YAMLDocument.compose(big) } throws: { error in
            guard case .refused(1, let reason) = error as? YAMLDocument.Failure else { return false }
            return reason.contains("\(big.utf8.count) bytes") && reason.contains("\(YAMLDocument.maximumBytes)")
        }
        #expect(try YAMLDocument.compose("") == nil)
        #expect(try YAMLDocument.compose("a: [1, {b: c}]\n") != nil)
    }
}

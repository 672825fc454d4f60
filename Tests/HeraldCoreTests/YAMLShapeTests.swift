import Foundation
import HeraldCore
import Testing

@Suite("YAML shape: nesting and aliases bounded before Yams reads a document")
struct YAMLShapeTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test("the fuzzer's finding: a few thousand nested flow mappings are refused with the line, not a stack overflow")
    func deepFlow() throws {
        let finding = try String(contentsOf: Self.root.appendingPathComponent("Fuzz/corpus/yaml-deep-flow-mappings.txt"), encoding: .utf8)
        #expect(YAMLShape.refusal(finding)?.reason.contains("nested more than 64 levels") == true)
        #expect { try CampaignParser.parse(finding, file: "deep.yaml") } throws: { "\($0)".contains("nested more than 64 levels") }
        #expect { try YAMLValue.parse(finding) } throws: { "\($0)".contains("nested more than 64 levels") }
        // The second finding: the same, its lines separated by CR alone.
        let crLines = try String(contentsOf: Self.root.appendingPathComponent("Fuzz/corpus/yaml-deep-flow-cr-lines.txt"), encoding: .utf8)
        #expect(YAMLShape.refusal(crLines)?.reason.contains("nested more than 64 levels") == true)
        for brk in ["\r", "\r\n", "\u{85}", "\u{2028}"] {
            let text = "a:" + brk + String(repeating: "{", count: 100) + brk + String(repeating: "}", count: 100)
            #expect(YAMLShape.refusal(text) != nil, "\(Array(brk.unicodeScalars))")
        }
        let deep = "a: " + String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000)
        #expect(YAMLShape.refusal(deep) == .init(line: 1, reason: "nested more than 64 levels deep"))
        let justUnder = "a: " + String(repeating: "[", count: 62) + String(repeating: "]", count: 62)
        #expect(YAMLShape.refusal(justUnder) == nil)
        #expect((try? YAMLValue.parse(justUnder)) != nil)
    }

    @Test("block nesting by indentation and by dashes on one line is counted too")
    func blockNesting() {
        let indented = (0..<80).map { String(repeating: " ", count: $0) + "k\($0):" }.joined(separator: "\n") + " x\n"
        #expect(YAMLShape.refusal(indented)?.line == 65, "the 65th level is on line 65")
        let dashes = "list:\n  " + String(repeating: "- ", count: 100) + "x\n"
        #expect(YAMLShape.refusal(dashes)?.line == 2)
    }

    @Test("times at the ends of Int64 format and fall in a local day without trapping (the fuzzer's alerts finding)")
    func extremeTimes() throws {
        for ms in [Int64.min, .min + 1, .min + 999, .max, .max - 1] { _ = RFC3339.format(milliseconds: ms) }
        #expect(RFC3339.format(milliseconds: -1) == "1969-12-31T23:59:59.999Z")
        for zone in ["Pacific/Kiritimati", "Pacific/Pago_Pago", "UTC"] {
            _ = AlertPeriod.localDay(.max - 1, timeZone: zone)
            _ = AlertPeriod.localDay(.min + 1, timeZone: zone)
        }
        let finding = try String(contentsOf: Self.root.appendingPathComponent("Fuzz/corpus/alert-rule-extreme-day.yaml"), encoding: .utf8)
        #expect(YAMLShape.refusal(finding) == nil)
    }

    @Test("aliases are refused: nested ones expand to billions of nodes when the tree is read")
    func aliases() {
        let laughs = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b]\n"
        #expect(YAMLShape.refusal(laughs) == .init(line: 2, reason: "aliases (*name) are not supported"))
        #expect(YAMLShape.refusal("v: *x\n") != nil)
    }

    @Test("what real documents hold passes: every shipped campaign and alert rule, globs, quotes, comments, brackets in text, block scalars")
    func noFalseRefusals() throws {
        for folder in ["config/campaigns", "config/alerts"] {
            let dir = Self.root.appendingPathComponent(folder)
            for file in try FileManager.default.contentsOfDirectory(atPath: dir.path) where file.hasSuffix(".yaml") {
                let text = try String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8)
                #expect(YAMLShape.refusal(text) == nil, "\(folder)/\(file)")
            }
        }
        let text = """
            url: https://shop.example/products/**   # a glob, not an alias
            note: "a [quoted {bracket" # and 'a quote'
            plain: a*b and {c} and [d
            html: |
                              <div>
                                                                                                                                  deep indentation is text here
                              </div>
            after: 2
            """
        #expect(YAMLShape.refusal(text) == nil)
    }
}

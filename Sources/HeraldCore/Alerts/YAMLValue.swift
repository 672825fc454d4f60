import Yams

/// YAML (and so JSON, its subset) read into a `JSONValue`, for documents that
/// arrive both as files and over HTTP and are checked by one validator.
public enum YAMLValue {
    /// - Throws: `AlertRuleError` with the line of a YAML syntax error.
    public static func parse(_ text: String) throws(AlertRuleError) -> JSONValue {
        do {
            guard let node = try Yams.compose(yaml: text) else { throw AlertRuleError(field: "", reason: "the document is empty") }
            return convert(node)
        } catch let error as AlertRuleError {
            throw error
        } catch let error as YamlError {
            throw AlertRuleError(field: "", reason: "not valid YAML (line \(CampaignParser.line(of: error))): \(error)")
        } catch {
            throw AlertRuleError(field: "", reason: "not valid YAML: \(error)")
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
            case "tag:yaml.org,2002:int": return node.int.map { .int(Int64($0)) } ?? .string(s.string)
            case "tag:yaml.org,2002:float": return node.float.map(JSONValue.double) ?? .string(s.string)
            default: return .string(s.string)
            }
        }
    }
}

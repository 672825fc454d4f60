/// Why a campaign file was refused: where (file, line, column) and why.
public struct CampaignError: Error, Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int
    public var reason: String

    public init(file: String, line: Int, column: Int = 0, reason: String) {
        self.file = file
        self.line = line
        self.column = column
        self.reason = reason
    }

    /// `config/campaigns/cart.yaml:12:5: unknown step kind 'sned' ...`
    public var description: String { "\(file):\(line)\(column > 0 ? ":\(column)" : ""): \(reason)" }
}

/// Why a campaign file was refused: where (file, line, column) and why.
public struct CampaignError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The campaign file (or the name the API was given).
    public var file: String
    /// The line, from 1 (0: the whole file).
    public var line: Int
    /// The column, from 1 (0: unknown).
    public var column: Int
    /// What is wrong.
    public var reason: String

    /// A refusal of `file` at `line`:`column`.
    public init(file: String, line: Int, column: Int = 0, reason: String) {
        self.file = file
        self.line = line
        self.column = column
        self.reason = reason
    }

    /// `config/campaigns/cart.yaml:12:5: unknown step kind 'sned' ...`
    public var description: String { "\(file):\(line)\(column > 0 ? ":\(column)" : ""): \(reason)" }
}

import HeraldCore
import HeraldRedis

/// The sender's providers: one per channel and account. A channel's default
/// account is registered under "" and serves every request that names none; a
/// named account (a second WhatsApp number) is one more registration
/// (`WhatsAppAccount.load` reads one file per number). Adding a channel is one new
/// `ChannelProvider` type and one registration in `SenderApp`.
public struct ProviderRegistry: Sendable {
    /// One registered account.
    public struct Entry: Sendable {
        /// What requests for this account become on the wire.
        public let provider: any ChannelProvider
        /// The account's own throughput, messages per second, ahead of the
        /// provider's limits (WhatsApp: per phone number); nil: none.
        public let perSecond: Int?
        /// The `account` label of the sender's metrics (the SMTP server, a phone number id).
        public let label: String
        /// The name of its rate window in Redis, shared by every sender.
        public let rateName: String
    }

    private var entries: [Channel: [String: Entry]] = [:]

    /// No providers yet.
    public init() {}

    /// Registers `provider` for `channel`'s `account` ("" is the channel's default account).
    /// - Precondition: `account` is "" or a valid `AccountName` (checked where it was read).
    public mutating func register(_ provider: any ChannelProvider, for channel: Channel, account: String = "", perSecond: Int?, label: String) {
        let rateName = account.isEmpty ? channel.rawValue : "\(channel.rawValue):\(account)"
        entries[channel, default: [:]][account] = Entry(provider: provider, perSecond: perSecond, label: label, rateName: rateName)
    }

    /// What is registered for `request`'s channel and account, or why nothing is.
    public func entry(for request: SendRequest) -> Result<Entry, RegistryMiss> {
        guard let accounts = entries[request.channel] else { return .failure(.noChannel(request.channel)) }
        guard let entry = accounts[request.account] else { return .failure(.noAccount(request.channel, request.account)) }
        return .success(entry)
    }

    /// The `account` label of `request`'s account ("" when it has none registered).
    public func label(_ request: SendRequest) -> String { entries[request.channel]?[request.account]?.label ?? "" }

    /// The named accounts of `channel`, sorted (without the default, "").
    public func accounts(of channel: Channel) -> [String] { (entries[channel] ?? [:]).keys.filter { !$0.isEmpty }.sorted() }

    /// Why a request has no provider; the message ends `sending_failed` with this reason.
    public enum RegistryMiss: Error, CustomStringConvertible {
        /// Nothing serves the channel.
        case noChannel(Channel)
        /// The channel is served, but not from this account.
        case noAccount(Channel, String)

        /// The reason recorded on the message.
        public var description: String {
            switch self {
            case .noChannel(let c): "no provider is registered for the \(c.rawValue) channel"
            case .noAccount(let c, let a): "no \(c.rawValue) account '\(a)' is configured (config/accounts/\(c.rawValue)/\(a).yaml)"
            }
        }
    }
}

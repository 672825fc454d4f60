/// Which addresses an outgoing request may connect to.
///
/// Webhook URLs come from campaigns, which admins write but which reach the
/// sender as data; without a policy a webhook to `http://169.254.169.254/` (a
/// cloud's metadata service) or `http://10.0.0.5:6379/` would be made from inside
/// Herald's network. The policy is applied to the address curl actually
/// connects to, after DNS, so a name that resolves to a private address (or is
/// rebound to one) is refused too.
public struct AddressPolicy: Sendable, Hashable {
    /// Networks allowed even though they are not public (an operator's allow-list).
    public var allowed: [Network]

    /// A policy that also allows the non-public networks in `allowed`.
    public init(allowed: [Network] = []) { self.allowed = allowed }

    /// A network in CIDR form: `10.1.0.0/16`, `fd00::/8`.
    public struct Network: Sendable, Hashable, CustomStringConvertible {
        /// 4 or 16 bytes.
        public var address: [UInt8]
        /// The prefix length in bits.
        public var prefix: Int

        /// nil unless `text` is an IPv4 or IPv6 network with a prefix that fits it.
        public init?(_ text: String) {
            let parts = text.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count <= 2, let address = Self.parse(String(parts[0])) else { return nil }
            let bits = address.count * 8
            let prefix = parts.count == 2 ? Int(parts[1]) : bits
            guard let prefix, (0...bits).contains(prefix) else { return nil }
            self.address = address
            self.prefix = prefix
        }

        /// Whether `bytes` (of the same family) lies inside.
        public func contains(_ bytes: [UInt8]) -> Bool {
            guard bytes.count == address.count else { return false }
            var left = prefix
            for i in 0..<bytes.count where left > 0 {
                let take = min(8, left)
                let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - take))
                if bytes[i] & mask != address[i] & mask { return false }
                left -= take
            }
            return true
        }

        /// CIDR notation, `10.20.0.0/16`.
        public var description: String { "\(Self.format(address))/\(prefix)" }

        /// IPv4 dotted quads or IPv6 (with `::`) as bytes.
        static func parse(_ text: String) -> [UInt8]? {
            if !text.contains(":") {
                let quads = text.split(separator: ".", omittingEmptySubsequences: false)
                guard quads.count == 4 else { return nil }
                var out: [UInt8] = []
                for q in quads {
                    guard !q.isEmpty, q.count <= 3, q.allSatisfy(\.isASCII), let v = UInt8(q) else { return nil }
                    out.append(v)
                }
                return out
            }
            let halves = text.components(separatedBy: "::")
            guard halves.count <= 2 else { return nil }
            func groups(_ s: String) -> [UInt16]? {
                if s.isEmpty { return [] }
                var out: [UInt16] = []
                for g in s.split(separator: ":", omittingEmptySubsequences: false) {
                    guard !g.isEmpty, g.count <= 4, let v = UInt16(g, radix: 16) else { return nil }
                    out.append(v)
                }
                return out
            }
            guard let head = groups(halves[0]), let tail = halves.count == 2 ? groups(halves[1]) : [] else { return nil }
            let fill = 8 - head.count - tail.count
            guard halves.count == 2 ? fill >= 1 : fill == 0 else { return nil }
            let all = head + [UInt16](repeating: 0, count: halves.count == 2 ? fill : 0) + tail
            return all.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
        }

        /// An address as text (IPv6 without `::` shortening).
        public static func format(_ bytes: [UInt8]) -> String {
            if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
            return stride(from: 0, to: bytes.count, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }.joined(separator: ":")
        }
    }

    /// Networks that are not the public internet: this host, private and
    /// carrier-grade NAT ranges, link-local (cloud metadata at 169.254.169.254),
    /// unique-local IPv6, multicast and reserved ranges.
    public static let nonPublic: [Network] = [
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24", "192.168.0.0/16",
        "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4", "::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8", "64:ff9b::/96",
    ].map { Network($0)! }

    /// Whether a connection to `bytes` (4 or 16 bytes) is allowed. An
    /// IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) is judged as its IPv4 address.
    public func permits(_ bytes: [UInt8]) -> Bool {
        var address = bytes
        if address.count == 16, address[0..<10].allSatisfy({ $0 == 0 }), address[10] == 0xFF, address[11] == 0xFF { address = Array(address[12...]) }
        if allowed.contains(where: { $0.contains(address) }) { return true }
        return !Self.nonPublic.contains { $0.contains(address) }
    }
}

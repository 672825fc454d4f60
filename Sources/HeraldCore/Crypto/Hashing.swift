import Crypto

/// Hashes, HMACs and secret comparison for Herald, over swift-crypto (BoringSSL
/// on Linux) instead of the hand-written SHA-1 and SHA-256 Herald had: a
/// well-kept library is audited and constant-time where it matters.
public enum Hashing {
    /// SHA-256 of `message`.
    public static func sha256(_ message: some Sequence<UInt8>) -> [UInt8] {
        Array(SHA256.hash(data: Array(message)))
    }

    /// A SHA-256 fed in parts: a file read a megabyte at a time.
    public struct SHA256Stream {
        private var hasher = SHA256()
        /// A hash of nothing yet.
        public init() {}
        /// Adds `bytes` to what is hashed.
        public mutating func update(_ bytes: some Sequence<UInt8>) { hasher.update(data: Array(bytes)) }
        /// The hash of everything added.
        public func finalize() -> [UInt8] { Array(hasher.finalize()) }
    }

    /// SHA-1 of `message`. Only where a peer requires it (Redis names scripts by
    /// it, Twilio signs with it); never for a decision of Herald's own.
    public static func sha1(_ message: some Sequence<UInt8>) -> [UInt8] {
        Array(Insecure.SHA1.hash(data: Array(message)))
    }

    /// HMAC-SHA256 of `message` under `key`.
    public static func hmacSHA256(key: some Sequence<UInt8>, message: some Sequence<UInt8>) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: Array(message), using: SymmetricKey(data: Array(key))))
    }

    /// HMAC-SHA1 of `message` under `key` (Twilio's request signature).
    public static func hmacSHA1(key: some Sequence<UInt8>, message: some Sequence<UInt8>) -> [UInt8] {
        Array(HMAC<Insecure.SHA1>.authenticationCode(for: Array(message), using: SymmetricKey(data: Array(key))))
    }

    /// Lowercase hex of `bytes`.
    public static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.underestimatedCount * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Whether a presented secret (API key, token, signature) equals the expected
    /// one, in time that depends on neither where they first differ nor their
    /// lengths: both are hashed, and swift-crypto compares digests in constant time.
    public static func secretsEqual(_ presented: some StringProtocol, _ expected: some StringProtocol) -> Bool {
        SHA256.hash(data: Array(presented.utf8)) == SHA256.hash(data: Array(expected.utf8))
    }
}

/// What SHA-1 and SHA-256 share: 64-byte blocks, the same padding, and HMAC (RFC 2104) over them.
enum HashBlocks {
    /// `message`, then 0x80, zeros up to 56 mod 64, and the bit length (big-endian, 64 bits).
    static func padded(_ message: [UInt8]) -> [UInt8] {
        var data = message
        let bitLength = UInt64(message.count) * 8
        data.append(0x80)
        while data.count % 64 != 56 { data.append(0) }
        for i in (0..<8).reversed() { data.append(UInt8(truncatingIfNeeded: bitLength >> (UInt64(i) * 8))) }
        return data
    }

    /// HMAC of `message` under `key` with a 64-byte-block `hash`.
    static func hmac(key: [UInt8], message: [UInt8], hash: ([UInt8]) -> [UInt8]) -> [UInt8] {
        var k = key.count > 64 ? hash(key) : key
        k += [UInt8](repeating: 0, count: 64 - k.count)
        return hash(k.map { $0 ^ 0x5c } + hash(k.map { $0 ^ 0x36 } + message))
    }
}

/// Where a page of the address book ends: the shard and the last contact id
/// returned (or scanned) there. Contacts are listed shard by shard, each shard
/// in id order, so a contact present for the whole listing is returned exactly
/// once however contacts are added or erased meanwhile. Opaque to clients: the
/// text is hex, so any id (any bytes) survives a URL.
public struct AddressBookCursor: Sendable, Hashable {
    /// The shard to go on in.
    public var shard: Int
    /// The id after which to go on; nil: the shard's start.
    public var after: String?

    /// A cursor at `shard`, after `after`.
    public init(shard: Int, after: String?) {
        self.shard = shard
        self.after = after
    }

    /// `<shard>.<hex of the id>` (`<shard>.` at a shard's start).
    public var text: String {
        var out = "\(shard)."
        for b in (after ?? "").utf8 { out += String(b, radix: 16).count == 1 ? "0" + String(b, radix: 16) : String(b, radix: 16) }
        return out
    }

    /// Reads a cursor for an address book of `partitions` shards.
    /// - Throws: `ContactFilterError` for `cursor` when it is not one this API wrote.
    public init(text: String, partitions: Int) throws(ContactFilterError) {
        let bad = ContactFilterError(parameter: "cursor", "is not a cursor of this address book (pass next_cursor as returned)")
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].utf8.count <= 6, let shard = Int(parts[0]), (0..<partitions).contains(shard) else { throw bad }
        let hex = Array(parts[1].utf8)
        guard hex.count % 2 == 0, hex.count <= 512 else { throw bad }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(hex.count / 2)
        var i = 0
        while i < hex.count {
            guard let hi = Self.nibble(hex[i]), let lo = Self.nibble(hex[i + 1]) else { throw bad }
            bytes.append(hi << 4 | lo)
            i += 2
        }
        guard let id = String(validating: bytes, as: UTF8.self) else { throw bad }
        self.init(shard: shard, after: id.isEmpty ? nil : id)
    }

    static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        default: nil
        }
    }
}

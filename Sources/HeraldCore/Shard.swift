/// The shard of a contact: the Kafka partition its records land in.
///
/// Equal to Kafka's Java default partitioner and librdkafka's `murmur2_random`
/// for a non-empty key, so an outside producer keyed by contact id lands where
/// Herald expects (DESIGN.md, principle 1).
public enum Shard {
    /// The partition (0..<partitions) for a contact id.
    /// - Precondition: `partitions > 0`.
    public static func of(_ contactId: String, partitions: Int) -> Int {
        precondition(partitions > 0, "partitions must be positive")
        return Int(murmur2(Array(contactId.utf8)) & 0x7fff_ffff) % partitions
    }

    /// The Redis hash tag that pins a shard's keys to one Redis Cluster slot: `{17}`.
    public static func hashTag(_ shard: Int) -> String { "{\(shard)}" }

    /// Kafka's murmur2 (seed 0x9747b28c), as in `org.apache.kafka.common.utils.Utils.murmur2`.
    public static func murmur2(_ data: [UInt8]) -> UInt32 {
        let m: UInt32 = 0x5bd1_e995
        let r: UInt32 = 24
        let length = data.count
        var h: UInt32 = 0x9747_b28c ^ UInt32(truncatingIfNeeded: length)
        let blocks = length / 4
        for i in 0..<blocks {
            let j = i * 4
            var k = UInt32(data[j]) | UInt32(data[j + 1]) << 8 | UInt32(data[j + 2]) << 16 | UInt32(data[j + 3]) << 24
            k = k &* m
            k ^= k >> r
            k = k &* m
            h = h &* m
            h ^= k
        }
        let tail = blocks * 4
        switch length % 4 {
        case 3:
            h ^= UInt32(data[tail + 2]) << 16
            h ^= UInt32(data[tail + 1]) << 8
            h ^= UInt32(data[tail])
            h = h &* m
        case 2:
            h ^= UInt32(data[tail + 1]) << 8
            h ^= UInt32(data[tail])
            h = h &* m
        case 1:
            h ^= UInt32(data[tail])
            h = h &* m
        default:
            break
        }
        h ^= h >> 13
        h = h &* m
        h ^= h >> 15
        return h
    }
}

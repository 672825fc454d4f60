/// A script call's distinct *shapes*, numbered from 1 in order of first use.
///
/// Many messages of one call share most of what a script needs (a campaign, a
/// channel, a rate's limit and keys): that goes once per call as a shape, and
/// each message names its shape. Redis makes an object and a Lua string of every
/// key and argument, so this is work it no longer does per message
/// (`scripts/redis-cost/run`, docs/benchmarks.md). Used by `limit_acquire`,
/// `message_claim` and `message_record`.
struct ScriptShapes<Shape: Hashable> {
    private var numbers: [Shape: Int] = [:]
    private var order: [Shape] = []

    /// The shape's number, as the script reads it ("1", "2", …).
    mutating func index(of shape: Shape) -> String {
        if let known = numbers[shape] { return String(known) }
        order.append(shape)
        numbers[shape] = order.count
        return String(order.count)
    }

    /// A call's keys and arguments: the shapes' (`each`) first, then the messages'.
    /// ARGV: `header`, the number of shapes, each shape's arguments, the messages'.
    func call(header: [String], keys: [String], arguments: [String], each: (Shape) -> (keys: [String], arguments: [String])) -> (
        keys: [String], arguments: [String]
    ) {
        let parts = order.map(each)
        return (parts.flatMap(\.keys) + keys, header + [String(order.count)] + parts.flatMap(\.arguments) + arguments)
    }
}

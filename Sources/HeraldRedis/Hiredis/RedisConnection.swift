internal import CHiredis
import Glibc
import HeraldCore

/// One hiredis context.
///
/// Not thread-safe (hiredis contexts are not): owned by exactly one pool slot and
/// touched only on that slot's queue. Thrown away after any error, because a
/// context whose read failed may hold half a reply.
final class RedisConnection {
    private var context: UnsafeMutablePointer<redisContext>

    /// Connects with a timeout and sets the per-command read/write timeout.
    /// - Throws: `RedisError.connection` naming the address and the reason.
    init(host: String, port: Int, connectTimeout: Duration, commandTimeout: Duration) throws {
        guard let c = redisConnectWithTimeout(host, Int32(port), Self.timeval(connectTimeout)) else {
            throw RedisError(code: .connection, message: "cannot allocate a connection to \(host):\(port)")
        }
        if c.pointee.err != 0 {
            let reason = Self.errorString(c)
            redisFree(c)
            throw RedisError(code: .connection, message: "connect to \(host):\(port): \(reason)")
        }
        if redisSetTimeout(c, Self.timeval(commandTimeout)) != REDIS_OK {
            redisFree(c)
            throw RedisError(code: .connection, message: "cannot set the command timeout on \(host):\(port)")
        }
        _ = redisEnableKeepAlive(c)
        context = c
    }

    deinit { redisFree(context) }

    /// Sends every command, then reads every reply (one round trip for the batch).
    ///
    /// Error replies come back as `.error` values. An I/O error or timeout throws,
    /// and the caller must discard this connection.
    func pipeline(_ commands: RESPCommands) throws -> [RedisValue] {
        // Already in the protocol: hiredis only appends it to its output buffer.
        let appended = commands.bytes.withUnsafeBufferPointer { bytes in
            bytes.withMemoryRebound(to: CChar.self) { redisAppendFormattedCommand(context, $0.baseAddress, $0.count) }
        }
        guard appended == REDIS_OK else { throw ioError() }
        var replies: [RedisValue] = []
        replies.reserveCapacity(commands.count)
        for _ in 0..<commands.count {
            var raw: UnsafeMutableRawPointer? = nil
            guard redisGetReply(context, &raw) == REDIS_OK, let raw else {
                throw ioError()
            }
            let reply = raw.assumingMemoryBound(to: redisReply.self)
            replies.append(Self.value(reply))
            freeReplyObject(raw)
        }
        return replies
    }

    private func ioError() -> RedisError {
        let reason = Self.errorString(context)
        let timedOut = context.pointee.err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK || reason.contains("temporarily unavailable"))
        return RedisError(code: timedOut ? .timeout : .connection, message: reason.isEmpty ? "connection lost" : reason)
    }

    private static func errorString(_ c: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: c.pointee.errstr) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    private static func value(_ r: UnsafeMutablePointer<redisReply>) -> RedisValue {
        let reply = r.pointee
        switch reply.type {
        case REDIS_REPLY_STRING:
            return .bulk(reply.str.map { Array(UnsafeRawBufferPointer(start: $0, count: reply.len)) } ?? [])
        case REDIS_REPLY_INTEGER:
            return .integer(reply.integer)
        case REDIS_REPLY_NIL:
            return .null
        case REDIS_REPLY_STATUS:
            return .status(reply.str.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: reply.len), as: UTF8.self) } ?? "")
        case REDIS_REPLY_ERROR:
            return .error(reply.str.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: reply.len), as: UTF8.self) } ?? "")
        case REDIS_REPLY_ARRAY:
            var elements: [RedisValue] = []
            elements.reserveCapacity(reply.elements)
            for i in 0..<reply.elements {
                if let e = reply.element[i] { elements.append(value(e)) } else { elements.append(.null) }
            }
            return .array(elements)
        default:
            return .null
        }
    }

    private static func timeval(_ d: Duration) -> Glibc.timeval {
        let ms = d.milliseconds
        return Glibc.timeval(tv_sec: Int(ms / 1000), tv_usec: Int((ms % 1000) * 1000))
    }
}

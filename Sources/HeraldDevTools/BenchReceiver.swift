import Foundation
import Glibc
import HeraldService
import Synchronization

/// The provider of `bench send`: a customer's webhook endpoint, answering every
/// `POST` with `200 OK` and an empty body, and telling `onPost` each request's
/// `Idempotency-Key` (the send id) — or, as `.whatsApp`, the Cloud API's
/// messages endpoint, answering with Meta's success body (`messages[0].id`, a
/// `wamid.` id) and telling `onPost` the recipient (`to`).
///
/// Why not Hummingbird, as the tests' receiver is: it spent about 35 µs of CPU
/// per request, and on a machine whose cores the receiver shares with the sender
/// it measures, Redis and the broker, that CPU was taken from the system under
/// test. In production the receiver runs elsewhere. This one is a `poll(2)` loop
/// on a thread of its own (its calls block; none runs on Swift's pool) that
/// speaks the HTTP/1.1 a webhook needs: requests with a `Content-Length`, kept
/// alive and pipelined. A request it cannot read (chunked, no length, a head
/// over 64 KiB) is answered with a 4xx/5xx status and the connection closed.
final class BenchReceiver: Sendable {
    let port: Int
    private let listener: Int32
    private let stopping = Atomic<Bool>(false)
    /// The serving thread's CPU clock (`pthread_getcpuclockid`), once it runs.
    private let clock = Mutex<clockid_t?>(nil)
    private let onPost: @Sendable (String) -> Void
    private let provider: BenchProvider

    init(_ provider: BenchProvider = .webhook, onPost: @escaping @Sendable (_ key: String) -> Void) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw CLIError("bench receiver: socket() failed: \(String(cString: strerror(errno)))") }
        guard let port = bindLoopback(fd), listen(fd, 1024) == 0 else {
            close(fd)
            throw CLIError("bench receiver: cannot listen on 127.0.0.1: \(String(cString: strerror(errno)))")
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        self.listener = fd
        self.port = port
        self.onPost = onPost
        self.provider = provider
        Thread.detachNewThread { self.serve() }
    }

    /// Stops the loop (within 100 ms); it closes every connection and the listener.
    func stop() { stopping.store(true, ordering: .relaxed) }

    /// CPU seconds the serving thread has used so far: what answering cost the
    /// machine the sender shares (`bench send` reports it per message).
    var cpuSeconds: Double? {
        guard let id = clock.withLock({ $0 }) else { return nil }
        var t = timespec()
        guard clock_gettime(id, &t) == 0 else { return nil }
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    private func serve() {
        var id = clockid_t()
        if pthread_getcpuclockid(pthread_self(), &id) == 0 { clock.withLock { $0 = id } }
        // A connection is a class: updated in place, its buffers are never copied.
        var connections: [Int32: HTTPConnection] = [:]
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var fds: [pollfd] = []
        while !stopping.load(ordering: .relaxed) {
            fds.removeAll(keepingCapacity: true)
            fds.append(pollfd(fd: listener, events: Int16(POLLIN), revents: 0))
            for (fd, c) in connections { fds.append(pollfd(fd: fd, events: Int16(POLLIN) | (c.outbox.isEmpty ? 0 : Int16(POLLOUT)), revents: 0)) }
            guard poll(&fds, nfds_t(fds.count), 100) > 0 else { continue }
            for p in fds where p.revents != 0 {
                if p.fd == listener {
                    while true {
                        let fd = accept(listener, nil, nil)
                        guard fd >= 0 else { break }
                        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
                        var one: Int32 = 1
                        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                        connections[fd] = HTTPConnection()
                    }
                    continue
                }
                guard let c = connections[p.fd] else { continue }
                var broken = false
                if p.revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
                    let n = buffer.withUnsafeMutableBytes { read(p.fd, $0.baseAddress, $0.count) }
                    if n > 0 {
                        buffer.withUnsafeBufferPointer { c.inbox.append(contentsOf: UnsafeBufferPointer(rebasing: $0[0..<n])) }
                        c.answer(provider, onPost)
                    } else if n == 0 || (errno != EAGAIN && errno != EINTR) {
                        broken = true
                    }
                }
                if !c.outbox.isEmpty, !broken {
                    let n = c.outbox.withUnsafeBytes { write(p.fd, $0.baseAddress, $0.count) }
                    if n > 0 { c.outbox.dropFront(n) } else if n < 0, errno != EAGAIN, errno != EINTR { broken = true }
                }
                // A connection being closed is kept until its last answer is sent.
                if broken || c.closing && c.outbox.isEmpty {
                    close(p.fd)
                    connections[p.fd] = nil
                }
            }
        }
        for fd in connections.keys { close(fd) }
        close(listener)
    }
}

/// What the bench's receiver stands for: how it answers a POST, and what it reports of it.
enum BenchProvider: Sendable {
    /// A customer's endpoint: `200`, no body; reports the `Idempotency-Key`.
    case webhook
    /// `POST /{version}/{phone-number-id}/messages`: `200` with Meta's success
    /// body; reports the body's `to` (the recipient's number, digits only).
    case whatsApp
}

/// One client connection's unread bytes and unsent answers; used by the
/// receiver's thread only.
///
/// Everything here reads and writes bytes in place: the receiver shares its
/// core with Redis and the broker, and the generic collection code, string
/// headers and copied buffers of a first version cost about 50 µs per WhatsApp
/// message there — a third of that core (docs/benchmarks.md).
final class HTTPConnection {
    var inbox: [UInt8] = []
    var outbox: [UInt8] = []
    /// An answer that ends the connection was queued: nothing more is read.
    var closing = false

    /// The longest request head read (a webhook's is a few hundred bytes).
    static let maxHead = 65_536

    static let ok = Array("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".utf8)

    /// Meta's answer to an accepted message: the `contacts` echo and the message id
    /// that status webhooks name (the sender maps it to the send), appended to `out`:
    /// `{"messaging_product":"whatsapp","contacts":[{"input":TO,"wa_id":TO}],"messages":[{"id":"wamid.benchTO"}]}`.
    static func appendWhatsAppAccepted(to: String, into out: inout [UInt8]) {
        let parts = accepted
        let length = parts.reduce(0) { $0 + $1.count } + 3 * to.utf8.count
        out += acceptedHead
        out += String(length).utf8
        out += blankLine
        for (i, part) in parts.enumerated() {
            out += part
            if i < 3 { out += to.utf8 }
        }
    }

    private static let acceptedHead = Array("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ".utf8)
    private static let blankLine = Array("\r\n\r\n".utf8)
    /// The body around the three copies of the recipient.
    private static let accepted = [
        #"{"messaging_product":"whatsapp","contacts":[{"input":""#, #"","wa_id":""#, #""}],"messages":[{"id":"wamid.bench"#, #""}]}"#,
    ].map { Array($0.utf8) }

    /// The first `"name":"value"` in a JSON body, found by its bytes (the sender
    /// writes no space after a colon, and a phone number needs no escapes):
    /// parsing every body would take the receiver's CPU from the system under test.
    /// - Parameter marker: `"name":"` as bytes.
    static func stringField(_ marker: [UInt8], in body: UnsafeBufferPointer<UInt8>) -> String? {
        guard let start = Bytes.find(marker, in: body, from: 0), let end = Bytes.find([UInt8(ascii: "\"")], in: body, from: start + marker.count) else {
            return nil
        }
        return String(decoding: UnsafeBufferPointer(rebasing: body[(start + marker.count)..<end]), as: UTF8.self)
    }

    private static let toMarker = Array(#""to":""#.utf8)
    private static let headTerminator = Array("\r\n\r\n".utf8)

    static func refusal(_ status: String) -> [UInt8] {
        Array("HTTP/1.1 \(status)\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8)
    }

    /// Answers every complete request at the front of `inbox`; after a request
    /// that ends the connection (`closing`), nothing more is read.
    func answer(_ provider: BenchProvider = .webhook, _ onPost: (String) -> Void) {
        var start = 0
        defer { inbox.dropFront(start) }
        while !closing, let end = inbox.withUnsafeBufferPointer({ Bytes.find(Self.headTerminator, in: $0, from: start) }) {
            guard end - start <= Self.maxHead else { return refuse("431 Request Header Fields Too Large") }
            let head = inbox.withUnsafeBufferPointer { HTTPHead(UnsafeBufferPointer(rebasing: $0[start..<end])) }
            guard !head.chunked else { return refuse("501 Not Implemented") }
            guard let length = head.contentLength ?? (head.method == "POST" ? nil : 0) else { return refuse("411 Length Required") }
            let bodyStart = end + 4
            guard inbox.count - bodyStart >= length else { return }  // the body is still coming
            start = bodyStart + length
            guard head.method == "POST" else { return refuse("405 Method Not Allowed") }
            switch provider {
            case .webhook:
                onPost(head.idempotencyKey ?? "")
                outbox += Self.ok
            case .whatsApp:
                let body = bodyStart..<start
                let to = inbox.withUnsafeBufferPointer { Self.stringField(Self.toMarker, in: UnsafeBufferPointer(rebasing: $0[body])) } ?? ""
                onPost(to)
                Self.appendWhatsAppAccepted(to: to, into: &outbox)
            }
            if head.close { closing = true }
        }
        if !closing, inbox.count - start > Self.maxHead { refuse("431 Request Header Fields Too Large") }
    }

    private func refuse(_ status: String) {
        outbox += Self.refusal(status)
        closing = true
    }
}

extension [UInt8] {
    /// Removes the first `n` bytes, keeping the buffer (most often all of them go).
    mutating func dropFront(_ n: Int) {
        if n >= count { removeAll(keepingCapacity: true) } else if n > 0 { removeFirst(n) }
    }
}

/// Byte searches over raw buffers (no generic collection code on the hot path).
enum Bytes {
    /// Where `needle` first starts in `haystack` at or after `from`.
    static func find(_ needle: [UInt8], in haystack: UnsafeBufferPointer<UInt8>, from: Int) -> Int? {
        guard let first = needle.first, haystack.count >= needle.count else { return nil }
        var i = from
        let last = haystack.count - needle.count
        while i <= last {
            if haystack[i] == first {
                var j = 1
                while j < needle.count, haystack[i + j] == needle[j] { j += 1 }
                if j == needle.count { return i }
            }
            i += 1
        }
        return nil
    }

    /// ASCII case-insensitive equality with a lowercase name.
    static func equal(_ bytes: UnsafeBufferPointer<UInt8>, lowercase name: [UInt8]) -> Bool {
        guard bytes.count == name.count else { return false }
        for i in 0..<bytes.count where lower(bytes[i]) != name[i] { return false }
        return true
    }

    /// Whether `bytes` contains the lowercase `name`, ignoring ASCII case.
    static func contains(_ bytes: UnsafeBufferPointer<UInt8>, lowercase name: [UInt8]) -> Bool {
        guard bytes.count >= name.count else { return false }
        for i in 0...(bytes.count - name.count) where equal(UnsafeBufferPointer(rebasing: bytes[i..<(i + name.count)]), lowercase: name) { return true }
        return false
    }

    static func lower(_ b: UInt8) -> UInt8 { b >= 65 && b <= 90 ? b + 32 : b }

    /// A decimal number of at most 18 digits, nothing else; nil otherwise.
    static func decimal(_ bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        guard !bytes.isEmpty, bytes.count <= 18 else { return nil }
        var n = 0
        for b in bytes {
            guard b >= 48, b <= 57 else { return nil }
            n = n * 10 + Int(b - 48)
        }
        return n
    }
}

/// What the receiver reads of a request's head (request line and header fields).
struct HTTPHead {
    var method = ""
    var contentLength: Int?
    var idempotencyKey: String?
    var chunked = false
    var close = false

    private static let contentLengthName = Array("content-length".utf8)
    private static let idempotencyKeyName = Array("idempotency-key".utf8)
    private static let transferEncodingName = Array("transfer-encoding".utf8)
    private static let connectionName = Array("connection".utf8)
    private static let chunkedValue = Array("chunked".utf8)
    private static let closeValue = Array("close".utf8)

    /// - Parameter head: the request line and header lines, without the blank line.
    init(_ head: UnsafeBufferPointer<UInt8>) {
        var lineStart = 0
        var first = true
        while lineStart <= head.count {
            var lineEnd = lineStart
            while lineEnd < head.count, head[lineEnd] != 10 { lineEnd += 1 }
            let next = lineEnd + 1
            if lineEnd > lineStart, head[lineEnd - 1] == 13 { lineEnd -= 1 }
            let line = UnsafeBufferPointer(rebasing: head[lineStart..<lineEnd])
            lineStart = next
            if first {
                first = false
                let space = line.firstIndex(of: 32) ?? line.count
                method = String(decoding: UnsafeBufferPointer(rebasing: line[0..<space]), as: UTF8.self)
                continue
            }
            guard let colon = line.firstIndex(of: 58) else { continue }
            let name = UnsafeBufferPointer(rebasing: line[0..<colon])
            var from = colon + 1
            var to = line.count
            while from < to, line[from] == 32 || line[from] == 9 { from += 1 }
            while to > from, line[to - 1] == 32 || line[to - 1] == 9 { to -= 1 }
            let value = UnsafeBufferPointer(rebasing: line[from..<to])
            if Bytes.equal(name, lowercase: Self.contentLengthName) {
                contentLength = Bytes.decimal(value)
            } else if Bytes.equal(name, lowercase: Self.idempotencyKeyName) {
                idempotencyKey = String(decoding: value, as: UTF8.self)
            } else if Bytes.equal(name, lowercase: Self.transferEncodingName) {
                chunked = Bytes.contains(value, lowercase: Self.chunkedValue)
            } else if Bytes.equal(name, lowercase: Self.connectionName) {
                close = Bytes.equal(value, lowercase: Self.closeValue)
            }
        }
    }
}

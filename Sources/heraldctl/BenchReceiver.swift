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

    private func serve() {
        var connections: [Int32: HTTPConnection] = [:]
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while !stopping.load(ordering: .relaxed) {
            var fds = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0)]
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
                guard var c = connections[p.fd] else { continue }
                var broken = false
                if p.revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
                    let n = buffer.withUnsafeMutableBytes { read(p.fd, $0.baseAddress, $0.count) }
                    if n > 0 {
                        c.inbox.append(contentsOf: buffer[0..<n])
                        c.answer(provider, onPost)
                    } else if n == 0 || (errno != EAGAIN && errno != EINTR) {
                        broken = true
                    }
                }
                if !c.outbox.isEmpty, !broken {
                    let n = c.outbox.withUnsafeBytes { write(p.fd, $0.baseAddress, $0.count) }
                    if n > 0 { c.outbox.removeFirst(n) } else if n < 0, errno != EAGAIN, errno != EINTR { broken = true }
                }
                // A connection being closed is kept until its last answer is sent.
                if broken || c.closing && c.outbox.isEmpty {
                    close(p.fd)
                    connections[p.fd] = nil
                } else {
                    connections[p.fd] = c
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

/// One client connection's unread bytes and unsent answers.
struct HTTPConnection {
    var inbox: [UInt8] = []
    var outbox: [UInt8] = []
    /// An answer that ends the connection was queued: nothing more is read.
    var closing = false

    /// The longest request head read (a webhook's is a few hundred bytes).
    static let maxHead = 65_536

    static let ok = Array("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".utf8)

    /// Meta's answer to an accepted message: the `contacts` echo and the message id
    /// that status webhooks name (the sender maps it to the send).
    static func whatsAppAccepted(to: String) -> [UInt8] {
        let body = #"{"messaging_product":"whatsapp","contacts":[{"input":"\#(to)","wa_id":"\#(to)"}],"messages":[{"id":"wamid.bench\#(to)"}]}"#
        return Array("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)".utf8)
    }

    /// The first `"name":"value"` in a JSON body, found by its bytes (the sender
    /// writes no space after a colon, and a phone number needs no escapes):
    /// parsing every body would take the receiver's CPU from the system under test.
    static func stringField(_ name: String, in body: ArraySlice<UInt8>) -> String? {
        let marker = Array("\"\(name)\":\"".utf8)
        guard let start = body.firstRange(of: marker)?.upperBound, let end = body[start...].firstIndex(of: UInt8(ascii: "\"")) else { return nil }
        return String(decoding: body[start..<end], as: UTF8.self)
    }

    static func refusal(_ status: String) -> [UInt8] {
        Array("HTTP/1.1 \(status)\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8)
    }

    /// Answers every complete request at the front of `inbox`; after a request
    /// that ends the connection (`closing`), nothing more is read.
    mutating func answer(_ provider: BenchProvider = .webhook, _ onPost: (String) -> Void) {
        var start = 0
        defer { inbox.removeFirst(start) }
        while !closing, let end = Self.headEnd(inbox, from: start) {
            guard end - start <= Self.maxHead else { return refuse("431 Request Header Fields Too Large") }
            let head = HTTPHead(inbox[start..<end])
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
                let to = Self.stringField("to", in: inbox[bodyStart..<start]) ?? ""
                onPost(to)
                outbox += Self.whatsAppAccepted(to: to)
            }
            if head.close { closing = true }
        }
        if !closing, inbox.count - start > Self.maxHead { refuse("431 Request Header Fields Too Large") }
    }

    private mutating func refuse(_ status: String) {
        outbox += Self.refusal(status)
        closing = true
    }

    /// Where the blank line ending a request's head starts, if it has come.
    static func headEnd(_ bytes: [UInt8], from start: Int) -> Int? {
        var i = start
        while i + 3 < bytes.count {
            if bytes[i] == 13, bytes[i + 1] == 10, bytes[i + 2] == 13, bytes[i + 3] == 10 { return i }
            i += 1
        }
        return nil
    }
}

/// What the receiver reads of a request's head (request line and header fields).
struct HTTPHead {
    var method = ""
    var contentLength: Int?
    var idempotencyKey: String?
    var chunked = false
    var close = false

    init(_ head: ArraySlice<UInt8>) {
        let lines = head.split(separator: 10, omittingEmptySubsequences: false).map { $0.last == 13 ? $0.dropLast() : $0 }
        guard let requestLine = lines.first else { return }
        method = String(decoding: requestLine.prefix { $0 != 32 }, as: UTF8.self)
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: 58) else { continue }
            let name = String(decoding: line[..<colon], as: UTF8.self).lowercased()
            let value = String(decoding: line[(colon + 1)...], as: UTF8.self).trimmingCharacters(in: .whitespaces)
            switch name {
            case "content-length": contentLength = Int(value)
            case "idempotency-key": idempotencyKey = value
            case "transfer-encoding": chunked = value.lowercased().contains("chunked")
            case "connection": close = value.lowercased() == "close"
            default: break
            }
        }
    }
}

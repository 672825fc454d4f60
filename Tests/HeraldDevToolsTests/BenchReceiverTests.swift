import HeraldChannels
import HeraldCore
import Synchronization
import Testing

@testable import HeraldDevTools

@Suite("bench send's webhook receiver")
struct BenchReceiverTests {
    /// Feeds `bytes` to a connection in the given pieces and collects what it tells `onPost`.
    func feed(_ pieces: [[UInt8]]) -> (connection: HTTPConnection, keys: [String]) {
        let c = HTTPConnection()
        var keys: [String] = []
        for piece in pieces {
            c.inbox += piece
            c.answer { keys.append($0) }
        }
        return (c, keys)
    }

    func post(_ key: String, body: String = "{\"a\":1}", extra: String = "") -> String {
        "POST /hook HTTP/1.1\r\nHost: x\r\nidempotency-KEY: \(key)\r\nContent-Length: \(body.utf8.count)\r\n\(extra)\r\n\(body)"
    }

    @Test("header fields are found whatever their case and blanks: Content-Length with spaces and tabs around it, an Idempotency-Key in capitals")
    func headerFields() {
        let body = "{\"a\":1}"
        let request = "POST /hook HTTP/1.1\r\nIDEMPOTENCY-KEY:  k-9\t\r\ncontent-length:\t\(body.utf8.count)  \r\nX-Other: content-length: 99\r\n\r\n\(body)"
        let (c, keys) = feed([Array(request.utf8)])
        #expect(keys == ["k-9"])
        #expect(c.outbox == HTTPConnection.ok)
        #expect(c.inbox.isEmpty, "exactly the declared body was taken")
    }

    @Test("pipelined requests are each answered 200; a body split over reads waits for its end")
    func pipelined() {
        let whole = Array((post("k1") + post("k2") + post("k3", body: "{\"long\":\"0123456789\"}")).utf8)
        let cut = whole.count - 7
        let (c, keys) = feed([Array(whole[..<cut]), Array(whole[cut...])])
        #expect(keys == ["k1", "k2", "k3"])
        #expect(c.outbox == Array(String(repeating: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", count: 3).utf8))
        #expect(c.inbox.isEmpty)
        #expect(!c.closing)

        let (partial, none) = feed([Array(whole[..<cut])])
        #expect(none == ["k1", "k2"], "the third waits for the rest of its body")
        #expect(!partial.inbox.isEmpty)
    }

    @Test("what it cannot read gets a clear status and the connection ends: chunked 501, no length 411, not POST 405, a head over 64 KiB 431")
    func refusals() {
        for (request, status) in [
            ("POST /hook HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "501 Not Implemented"),
            ("POST /hook HTTP/1.1\r\ntransfer-encoding: gzip, CHUNKED\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "501 Not Implemented"),
            ("POST /hook HTTP/1.1\r\nHost: x\r\n\r\n", "411 Length Required"),
            ("POST /hook HTTP/1.1\r\nContent-Length: 7x\r\n\r\n{\"a\":1}", "411 Length Required"),
            ("GET /hook HTTP/1.1\r\nHost: x\r\n\r\n", "405 Method Not Allowed"),
            ("POST /hook HTTP/1.1\r\nX-Long: " + String(repeating: "a", count: 70_000) + "\r\n", "431 Request Header Fields Too Large"),
        ] {
            let (c, keys) = feed([Array((request + post("after")).utf8)])
            #expect(keys.isEmpty, "\(status)")
            #expect(String(decoding: c.outbox, as: UTF8.self) == "HTTP/1.1 \(status)\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            #expect(c.closing)
        }
        let (endless, _) = feed([Array(("POST /hook HTTP/1.1\r\nX-Long: " + String(repeating: "a", count: 70_000)).utf8)])
        #expect(endless.closing, "a head with no end in sight is refused before it ends")
        let (c, keys) = feed([Array((post("last", extra: "Connection: close\r\n") + post("never")).utf8)])
        #expect(keys == ["last"], "nothing is read after Connection: close")
        #expect(c.closing)
        let (shouted, shoutedKeys) = feed([Array((post("last", extra: "CONNECTION:\t Close \r\n") + post("never")).utf8)])
        #expect(shoutedKeys == ["last"], "header names and values are read without regard to case or surrounding blanks")
        #expect(shouted.closing)
    }

    @Test("as the WhatsApp Cloud API: each POST is answered with Meta's success body naming a message id, and reported by its recipient")
    func whatsApp() {
        let c = HTTPConnection()
        var recipients: [String] = []
        let bodies = ["420601234567", "420601234568"].map { to in
            #"{"messaging_product":"whatsapp","recipient_type":"individual","template":{"name":"order-update"},"to":"\#(to)","type":"template"}"#
        }
        c.inbox = Array(bodies.map { "POST /v21.0/123/messages HTTP/1.1\r\nContent-Length: \($0.utf8.count)\r\n\r\n\($0)" }.joined().utf8)
        c.answer(.whatsApp) { recipients.append($0) }
        #expect(recipients == ["420601234567", "420601234568"])
        // Two answers, each a 200 whose JSON body the sender reads the id from.
        let answers = String(decoding: c.outbox, as: UTF8.self).components(separatedBy: "HTTP/1.1 200 OK\r\n").dropFirst()
        #expect(answers.count == 2)
        for (answer, to) in zip(answers, recipients) {
            let parts = answer.components(separatedBy: "\r\n\r\n")
            let json = try? JSONValue.parse(string: parts.last ?? "")
            #expect(json?["messages"]?.arrayValue?.first?["id"]?.stringValue == "wamid.bench\(to)", "\(answer)")
            #expect(json?["contacts"]?.arrayValue?.first?["wa_id"]?.stringValue == to)
            #expect(parts.first?.contains("Content-Length: \(parts.last?.utf8.count ?? 0)") == true, "\(answer)")
        }
    }

    @Test("over real sockets: libcurl's keep-alive POSTs all arrive once, answered 200; a GET gets 405")
    func overSockets() async throws {
        let seen = Mutex<[String]>([])
        let receiver = try BenchReceiver { key in seen.withLock { $0.append(key) } }
        defer { receiver.stop() }
        let client = HTTPClient(concurrency: 8)
        let url = "http://127.0.0.1:\(receiver.port)/hook"
        let exchanges = await client.send(many: (0..<500).map { .postJSON(url, Array("{\"n\":\($0)}".utf8), headers: [("Idempotency-Key", "id-\($0)")]) })
        #expect(exchanges.map { (try? $0.result.get())?.status } == Array(repeating: 200, count: 500))
        #expect(seen.withLock { $0 }.sorted() == (0..<500).map { "id-\($0)" }.sorted())
        #expect(try await client.get(url).status == 405)
        #expect(seen.withLock { $0.count } == 500)
    }
}

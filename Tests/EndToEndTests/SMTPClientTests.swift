import HeraldChannels
import HeraldDevTools
import HeraldService
import HeraldTestSupport
import Testing

@Suite("SMTP client on libcurl's multi interface", .serialized, .timeLimit(.minutes(2)))
struct SMTPClientTests {
    func envelope(_ n: Int, to: String = "reader@shop.example") -> SMTPEnvelope {
        let text = "From: <herald@shop.example>\r\nTo: <\(to)>\r\nSubject: message \(n)\r\n\r\nbody of message \(n)\r\n"
        return SMTPEnvelope(from: "herald@shop.example", to: [to], message: Array(text.utf8))
    }

    @Test("send(many:) hands each message over once, in order of results; a 451 and a 550 stay with their message; a later batch goes through")
    func many() async throws {
        let sink = try await TestSMTPSink(failFirst: 1, rejectDomain: "rejected.example")
        let client = SMTPClient(configuration: SMTPConfiguration(server: "127.0.0.1:\(sink.port)"), concurrency: 4)
        var envelopes = (0..<30).map { envelope($0) }
        envelopes[11] = envelope(11, to: "nobody@rejected.example")
        let first = await client.send(many: envelopes)
        #expect(first.count == 30)
        #expect(first[11].outcome.isPermanent, "\(first[11].outcome)")
        // The sink answers the first DATA it sees with 451: one message, whichever it was.
        let temporary = first.indices.filter { first[$0].outcome.isTemporary }
        #expect(temporary.count == 1, "\(first.map(\.outcome))")
        let accepted = first.indices.filter { first[$0].outcome == .accepted }
        #expect(accepted.count == 28)
        // The failed session's connection is not reused in doubt: the next batch passes whole.
        let second = await client.send(many: (30..<35).map { envelope($0) })
        #expect(second.allSatisfy { $0.outcome == .accepted }, "\(second.map(\.outcome))")
        // Each accepted message arrived once, with its own body.
        let bodies = sink.messages().compactMap { $0.split(separator: "\r\n").first { $0.hasPrefix("body of message") } }.map(String.init)
        #expect(bodies.sorted() == (accepted + Array(30..<35)).map { "body of message \($0)" }.sorted())
        await sink.stop()
    }

    @Test("a server that cannot be reached makes each message unavailable (an outage, not a failed attempt)")
    func unreachable() async {
        let client = SMTPClient(configuration: SMTPConfiguration(server: "127.0.0.1:\(freeTCPPort())"), concurrency: 2)
        let results = await client.send(many: (0..<3).map { envelope($0) })
        #expect(results.allSatisfy { if case .unavailable = $0.outcome { true } else { false } }, "\(results.map(\.outcome))")
    }
}

extension SMTPOutcome {
    var isTemporary: Bool { if case .temporary = self { true } else { false } }
    var isPermanent: Bool { if case .permanent = self { true } else { false } }
}

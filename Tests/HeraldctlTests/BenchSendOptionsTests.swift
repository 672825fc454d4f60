import Testing

@testable import heraldctl

@Suite("bench send's options")
struct BenchSendOptionsTests {
    @Test("WhatsApp needs senders of the bench's own, and --tier needs WhatsApp; each refusal says why")
    func refusals() throws {
        for (arguments, reason) in [
            (["--channel", "whatsapp"], "--channel whatsapp needs --preload or --senders"),
            (["--tier", "250", "--senders", "4"], "--tier is WhatsApp's unique-recipient limit"),
            (["--channel", "whatsapp", "--senders", "4", "--tier", "0"], "--tier must be at least 1"),
            (["--channel", "whatsapp", "--senders", "4", "--tier", "250", "--hold", "0"], "--hold must be at least 1 second"),
            (["--channel", "sms"], "sms"),
        ] {
            #expect(throws: (any Error).self, "\(arguments)") { try BenchSend.parse(arguments) }
            do {
                _ = try BenchSend.parse(arguments)
            } catch {
                #expect(BenchSend.message(for: error).contains(reason), "\(arguments): \(BenchSend.message(for: error))")
            }
        }
        let ok = try BenchSend.parse(["--channel", "whatsapp", "--senders", "4", "--tier", "250", "--count", "1000"])
        #expect(ok.channel == .whatsapp && ok.tier == 250 && ok.senders == 4)
    }
}

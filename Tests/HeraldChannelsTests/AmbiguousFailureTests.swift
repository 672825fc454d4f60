import HeraldChannels
import Testing

@Suite("Provider failures judged by what the provider can have received")
struct AmbiguousFailureTests {
    func kind(_ o: SendOutcome) -> String {
        switch o {
        case .sent: "sent"
        case .retry: "retry"
        case .deferred: "deferred"
        case .failed: "failed"
        case .unknown: "unknown"
        case .retryAfter: "retry_after"
        case .accountStopped: "stopped"
        }
    }

    @Test("nothing sent is an outage for every channel; sent but unanswered is retried only where the call carries an idempotency key")
    func noResponse() {
        let notSent = HTTPClientError(code: .connection, message: "connect refused (nothing was sent)")
        let unanswered = HTTPClientError(code: .timeout, message: "timed out (after the request was sent)")
        let broken = HTTPClientError(code: .other, message: "connection reset (after the request was sent)")
        for idempotent in [true, false] { #expect(kind(.noResponse(notSent, idempotent: idempotent)) == "deferred") }
        #expect(kind(.noResponse(unanswered, idempotent: true)) == "retry")
        #expect(kind(.noResponse(unanswered, idempotent: false)) == "unknown")
        #expect(kind(.noResponse(broken, idempotent: false)) == "unknown")
        #expect(kind(.noResponse(HTTPClientError(code: .refused, message: "private"), idempotent: true)) == "failed")
    }

    @Test("a provider's 503 did not take the message (deferred); another 5xx may have (unknown, not retried into a second message)")
    func serverErrors() {
        #expect(kind(WhatsAppProvider.outcome(status: 503, code: nil, detail: "")) == "deferred")
        #expect(kind(WhatsAppProvider.outcome(status: 500, code: 131000, detail: "Something went wrong")) == "unknown")
        #expect(kind(TwilioSMSProvider.outcome(status: 502, code: nil, detail: "")) == "unknown")
        #expect(kind(TwilioSMSProvider.outcome(status: 429, code: 20429, detail: "")) == "deferred")
        #expect(kind(WhatsAppProvider.outcome(status: 400, code: 131026, detail: "")) == "failed")
        // Meta's 2025 limits: the per-user marketing limit waits a day; the spam rate limit stops the number.
        guard case .retryAfter(_, let after) = WhatsAppProvider.outcome(status: 400, code: 131049, detail: "") else {
            Issue.record("131049 is not retried after a wait")
            return
        }
        #expect(after >= .seconds(86_400))
        #expect(kind(WhatsAppProvider.outcome(status: 400, code: 131048, detail: "")) == "stopped")
    }

    @Test("SMTP: a message handed over whole with no reply is unknown; a 4xx reply after it is a temporary refusal")
    func smtp() {
        #expect(kind(EmailProvider.outcome(.unknown("timeout after DATA (last reply 354)"))) == "unknown")
        #expect(kind(EmailProvider.outcome(.temporary("452 mailbox full"))) == "retry")
        #expect(kind(EmailProvider.outcome(.unavailable("refused"))) == "deferred")
    }
}

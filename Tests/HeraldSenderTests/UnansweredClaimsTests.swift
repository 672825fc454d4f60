import Testing

@testable import HeraldSender

@Suite("A sender's unanswered claims")
struct UnansweredClaimsTests {
    @Test("an unanswered claim is resumed by one claim only, comes back if that one fails too, and is made due again once")
    func resumedOnce() {
        let claims = UnansweredClaims()
        #expect(claims.resuming(["m1"]) == [], "none unanswered: the common case")
        claims.failed([(shard: 3, id: "m1"), (shard: 5, id: "m2")])
        // Its batch's retry and the retry poller may claim it at once: one resumes it.
        #expect(claims.resuming(["m1"]) == [true])
        #expect(claims.resuming(["m1", "m2"]) == [false, true])
        claims.failed([(shard: 3, id: "m1")])
        #expect(claims.resuming(["m1"]) == [true])
        // Made due again once; put back when Redis did not answer.
        let toResume = claims.takeToResume().sorted { $0.id < $1.id }
        #expect(toResume.map(\.id) == ["m1", "m2"] && toResume.map(\.shard) == [3, 5])
        #expect(claims.takeToResume().isEmpty)
        claims.keep(toResume)
        #expect(claims.takeToResume().count == 2)
    }
}

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
        // m1's resuming claim failed too: it is unanswered again.
        claims.failed([(shard: 3, id: "m1")])
        // Made due again once, and only while no claim is resuming it (m2's
        // resume above took it); put back when Redis did not answer.
        let toResume = claims.takeToResume()
        #expect(toResume.map(\.id) == ["m1"] && toResume.map(\.shard) == [3])
        #expect(claims.takeToResume().isEmpty)
        claims.keep(toResume)
        #expect(claims.takeToResume().map(\.id) == ["m1"])
        #expect(claims.resuming(["m1"]) == [true])
    }
}

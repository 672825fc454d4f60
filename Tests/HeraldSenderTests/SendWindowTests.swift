import HeraldCore
import Testing

@testable import HeraldSender

@Suite("A broadcast's send window in the recipient's time zone")
struct SendWindowTests {
    func request(window: String, timeZone: String = "") -> SendRequest {
        var r = SendRequest(id: "bc:b:c", contactId: "c", campaignId: "broadcast:b", channel: .whatsapp, template: "t")
        r.window = window
        r.timeZone = timeZone
        return r
    }

    func profile(_ zone: String?) -> ContactProfile {
        var p = ContactProfile(id: "c")
        p.timeZone = zone
        return p
    }

    let day = RFC3339.parseMilliseconds("2026-12-07T00:00:00Z")!
    func at(_ hour: Int, _ minute: Int = 0) -> Int64 { day + Int64(hour * 3600 + minute * 60) * 1000 }

    @Test("inside the window: now; before it: today's start; after it: tomorrow's; each recipient in its own zone, else the broadcast's, else UTC")
    func opens() {
        let r = request(window: "09:00-20:00", timeZone: "America/New_York")
        // Prague is UTC+1 in December: 07:30 UTC is 08:30 there, so the window opens at 08:00 UTC.
        #expect(SendProcessor.windowOpens(r, profile: profile("Europe/Prague"), now: at(7, 30)) == at(8))
        #expect(SendProcessor.windowOpens(r, profile: profile("Europe/Prague"), now: at(12)) == at(12))
        // 19:30 UTC is 20:30 in Prague: past the window, the next opens tomorrow at 08:00 UTC.
        #expect(SendProcessor.windowOpens(r, profile: profile("Europe/Prague"), now: at(19, 30)) == at(32))
        // Without a zone of its own, the broadcast's: 12:00 UTC is 07:00 in New York (UTC-5), so 14:00 UTC.
        #expect(SendProcessor.windowOpens(r, profile: profile(nil), now: at(12)) == at(14))
        // Neither: UTC.
        #expect(SendProcessor.windowOpens(request(window: "09:00-20:00"), profile: nil, now: at(8)) == at(9))
        // The same moment, recipients on both sides of a zone boundary: one sends, one waits.
        #expect(SendProcessor.windowOpens(r, profile: profile("Asia/Tokyo"), now: at(5)) == at(5), "14:00 in Tokyo")
        #expect(
            SendProcessor.windowOpens(r, profile: profile("America/Los_Angeles"), now: at(5)) == at(17), "21:00 the day before in Los Angeles: 09:00 there")
        #expect(SendProcessor.windowOpens(request(window: ""), profile: nil, now: at(3)) == nil, "no window: any time")
    }
}

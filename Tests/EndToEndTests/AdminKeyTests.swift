import Foundation
import HeraldDevTools
import HeraldTestSupport
import Testing

@Suite("heraldctl finds its admin key under the ingestor's setting")
struct AdminKeyTests {
    @Test("HERALD_API_ADMIN_KEYS (its first key), then the file HERALD_API_ADMIN_KEYS_FILE names, then the older HERALD_ADMIN_KEY")
    func settingNames() throws {
        #expect(try AdminEndpoint.environmentKey(["HERALD_API_ADMIN_KEYS": " one , two", "HERALD_ADMIN_KEY": "old"]) == "one")
        let file = try temporaryDirectory("admin") + "/keys"
        try "from-file,second\n".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try AdminEndpoint.environmentKey(["HERALD_API_ADMIN_KEYS_FILE": file]) == "from-file")
        #expect(try AdminEndpoint.environmentKey(["HERALD_ADMIN_KEY": "old"]) == "old")
        #expect(try AdminEndpoint.environmentKey([:]) == nil)
        #expect(throws: CLIError.self) { try AdminEndpoint.environmentKey(["HERALD_API_ADMIN_KEYS_FILE": file + ".missing"]) }
    }
}

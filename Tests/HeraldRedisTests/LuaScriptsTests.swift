import HeraldCore
import HeraldTestSupport
import Logging
import Testing

@testable import HeraldRedis

/// The stores' Lua lives in `.lua` files that the EmbedLua plugin embeds at
/// build time, expanding `--#include` lines.
@Suite("the stores' Lua scripts, as embedded", .serialized, .timeLimit(.minutes(2)))
struct LuaScriptsTests {
    static let all: [RedisScript] = [
        AlertStore.replaceVisitsScript, AlertStore.takeTimedOutScript, CampaignStore.publishScript, CampaignStore.transitionScript,
        CappedSet.script, ContactStore.putScript, ContactStore.deleteScript, ContactStore.lookupScript, JourneyStore.saveScript,
        MessageStore.bringForwardScript, MessageStore.claimScript, MessageStore.recordScript, RateLimiter.script,
    ]

    @Test("every script compiles on a real redis-server, under the SHA it carries, with no include left unexpanded")
    func compile() async throws {
        let server = try await TestRedisServer()
        let pool = RedisPool(configuration: server.configuration, logger: Logger(label: "test.lua"))
        #expect(Set(Self.all.map(\.name)).count == Self.all.count)
        for script in Self.all {
            #expect(!script.source.contains("--#include"), "\(script.name) still has an include line")
            #expect(script.source.hasPrefix("-- \(script.name)\n"))
            // SCRIPT LOAD compiles the Lua: a script cut short or a literal that
            // swallowed a quote is refused here.
            #expect(try await pool.execute(["SCRIPT", "LOAD", script.source]).string == script.sha, "\(script.name)")
        }
    }

    @Test("shared functions are included where they are used")
    func includes() {
        for script in [MessageStore.claimScript, MessageStore.recordScript] {
            #expect(script.source.contains("local function move(km, kc, ks, old, new"), "\(script.name) lacks message_move.lua")
            #expect(script.source.contains("local function flushShared()"), "\(script.name)")
        }
        #expect(ContactStore.deleteScript.source.contains("local function reindex(a, b)"), "contact_delete lacks contact_index.lua")
    }
}

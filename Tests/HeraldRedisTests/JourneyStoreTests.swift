import HeraldCore
import HeraldRedis
import HeraldTestSupport
import Logging
import Testing

@Suite("Journey store on a real redis-server")
struct JourneyStoreTests {
    let logger = Logger(label: "test")

    @Test("a stored journey that cannot be read is left out and counted, not a failure of the contact's load")
    func damagedJourney() async throws {
        let server = try await TestRedisServer()
        let pool = RedisPool(configuration: server.configuration, logger: logger)
        let journeys = JourneyStore(redis: pool, partitions: 24)
        let contacts = ContactStore(redis: pool, partitions: 24)
        let contact = uniqueName("damaged")
        let key = "herald:j:\(Shard.hashTag(journeys.shard(of: contact))):\(contact)"
        _ = try await pool.execute(["HSET", key, "a", "{not json", "b", #"{"id":"x"}"#])
        let loaded = try await journeys.load(contact, contacts: contacts)
        #expect(loaded.journeys.isEmpty)
        #expect(loaded.undecodable == 2)
        // Each damaged journey with its field and bytes, so the scheduler can keep them.
        #expect(
            loaded.damaged.sorted { $0.instanceId < $1.instanceId } == [
                .init(key: key, instanceId: "a", bytes: Array("{not json".utf8)), .init(key: key, instanceId: "b", bytes: Array(#"{"id":"x"}"#.utf8)),
            ])
        let clean = try await journeys.load(uniqueName("clean"), contacts: contacts)
        #expect(clean.undecodable == 0)
        await pool.close()
        await server.stop()
    }
}

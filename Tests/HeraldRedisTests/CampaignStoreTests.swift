import Foundation
import HeraldCore
import HeraldRedis
import HeraldTestSupport
import Logging
import Testing

@Suite("Campaign store on a real redis-server", .timeLimit(.minutes(1)))
struct CampaignStoreTests {
    static func yaml(_ id: String, template: String = "t1") -> String {
        "id: \(id)\nlist: l\ntriggers: [purchase]\nsteps:\n  - id: a\n    send: {channel: email, template: \(template)}\n"
    }

    @Test("publish makes versions, keeps history, retires the old version by mode; rollback republishes")
    func versions() async throws {
        let server = try await TestRedisServer()
        let pool = RedisPool(configuration: server.configuration, logger: Logger(label: "test"))
        let store = CampaignStore(redis: pool)
        let id = uniqueName("camp")
        let r0 = try await store.revision()
        _ = try await store.saveDraft(Self.yaml(id), file: "x.yaml")
        #expect(try await store.show(id: id)?.state == .draft)
        #expect(try await store.publish(id: id, yaml: nil, mode: .drain) == 1)
        #expect(try await store.publish(id: id, yaml: Self.yaml(id, template: "t2"), mode: .now) == 2)
        var s = try #require(try await store.show(id: id))
        #expect(s.publishedVersion == 2 && s.versions == [1, 2] && s.retired == [1: .now] && !s.hasDraft && s.state == .active)
        #expect(try await store.yaml(id: id)?.contains("t2") == true)
        #expect(try await store.rollback(id: id, to: 1, mode: .drain) == 3)
        #expect(try await store.yaml(id: id)?.contains("t1") == true)
        s = try #require(try await store.show(id: id))
        #expect(s.retired == [1: .now, 2: .drain])
        #expect(try await store.revision() > r0)
        #expect(try await store.list().contains(id))
        // An invalid campaign is refused and changes nothing.
        await #expect(throws: CampaignError.self) { try await store.publish(id: id, yaml: "id: \(id)\nlist: l\n", mode: .drain) }
        #expect(try await store.show(id: id)?.publishedVersion == 3)
        await #expect(throws: CampaignStoreError.self) { try await store.rollback(id: id, to: 9, mode: .drain) }
        await pool.close()
        await server.stop()
    }

    @Test("pause, resume and stop move only between allowed states")
    func lifecycle() async throws {
        let server = try await TestRedisServer()
        let pool = RedisPool(configuration: server.configuration, logger: Logger(label: "test"))
        let store = CampaignStore(redis: pool)
        let id = uniqueName("life")
        await #expect(throws: CampaignStoreError.self) { try await store.setPaused(id: id, true) }  // unknown
        _ = try await store.publish(id: id, yaml: Self.yaml(id), mode: .drain)
        await #expect(throws: CampaignStoreError.self) { try await store.setPaused(id: id, false) }  // not paused
        try await store.setPaused(id: id, true)
        #expect(try await store.show(id: id)?.state == .paused)
        try await store.setPaused(id: id, false)
        try await store.stop(id: id, mode: .drain)
        #expect(try await store.show(id: id)?.state == .draining)
        try await store.stop(id: id, mode: .now)
        #expect(try await store.show(id: id)?.state == .stopped)
        await #expect(throws: CampaignStoreError.self) { try await store.stop(id: id, mode: .now) }
        // Publishing again reactivates it.
        _ = try await store.publish(id: id, yaml: Self.yaml(id), mode: .drain)
        #expect(try await store.show(id: id)?.state == .active)
        await pool.close()
        await server.stop()
    }
}

@Suite("Activity the profile applier records, from campaigns and segments", .timeLimit(.minutes(1)))
struct RecordedActivityTests {
    @Test("opens and clicks always; a type a published campaign or a saved segment counts once either is saved; none after the segment goes")
    func recordedTypes() async throws {
        let server = try await TestRedisServer()
        let pool = RedisPool(configuration: server.configuration, logger: Logger(label: "test"))
        let store = CampaignStore(redis: pool)
        let catalog = CampaignCatalog(store: store)
        try await catalog.refresh()
        #expect(catalog.recordedActivityTypes() == ["email_opened", "email_clicked"])
        let yaml = """
            id: viewers
            list: l
            triggers: [purchase]
            audience: {events: {name: page_visited, within: 7d, count: {gt: 2}}}
            steps:
              - id: a
                send: {channel: email, template: t}
            """
        _ = try await store.publish(id: "viewers", yaml: yaml, mode: .drain)
        let segments = SegmentStore(redis: pool)
        _ = try await segments.save(
            .init(id: "carts", name: "Carts", condition: "{not: {events: {name: cart_abandoned, count: {eq: 0}}}}", createdAt: 1, updatedAt: 1),
            createOnly: true)
        try await catalog.refresh()
        #expect(catalog.recordedActivityTypes() == ["email_opened", "email_clicked", "page_visited", "cart_abandoned"])
        _ = try await segments.delete("carts")
        try await catalog.refresh()
        #expect(catalog.recordedActivityTypes() == ["email_opened", "email_clicked", "page_visited"])
        await server.stop()
    }
}

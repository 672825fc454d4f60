import HeraldCore
import HeraldRedis
import HeraldTestSupport
import Logging
import Testing

@Suite("Address book on a real redis-server: listing, counting, export", .timeLimit(.minutes(2)))
struct AddressBookTests {
    /// 300 contacts over 8 shards: every third in `newsletter`, every fifth tagged `vip`, a city and a score.
    func seeded() async throws -> (TestRedisServer, ContactStore, [String]) {
        let server = try await TestRedisServer()
        let store = ContactStore(redis: RedisPool(configuration: server.configuration, logger: Logger(label: "test")), partitions: 8)
        var changes: [(contactId: String, change: ContactChange)] = []
        var ids: [String] = []
        for n in 0..<300 {
            var c = ContactChange()
            c.attributes = ["city": n % 2 == 0 ? "Praha" : "Brno", "score": .int(Int64(n))]
            if n % 3 == 0 { c.addLists = ["newsletter"] }
            if n % 5 == 0 { c.addTags = ["vip"] }
            let id = n == 7 ? "žluťoučký kůň.é" : "c-\(n)"
            ids.append(id)
            changes.append((id, c))
        }
        try await store.apply(changes, now: 1_000)
        return (server, store, ids)
    }

    @Test("paging with any page size returns every selected contact exactly once; counts equal a brute-force count")
    func pagesAndCounts() async throws {
        let (server, store, ids) = try await seeded()
        let book = AddressBook(contacts: store, chunkSize: 7)
        let filters: [(ContactFilter, (Int) -> Bool)] = [
            (.everyone, { _ in true }),
            (try ContactFilter(list: "newsletter", tag: nil, where: nil), { $0 % 3 == 0 }),
            (try ContactFilter(list: "newsletter", tag: "vip", where: nil), { $0 % 15 == 0 }),
            (
                try ContactFilter(list: nil, tag: nil, where: #"{all: [{attribute: city, eq: Praha}, {attribute: score, gt: 250}]}"#),
                { $0 % 2 == 0 && $0 > 250 }
            ),
            (try ContactFilter(list: nil, tag: nil, where: #"{not: {tag: vip}}"#), { $0 % 5 != 0 }),
        ]
        for (filter, selects) in filters {
            let expected = Set(ids.indices.filter(selects).map { ids[$0] })
            #expect(try await book.count(filter, now: 2_000, concurrency: 3) == expected.count, "\(filter)")
            for limit in [1, 13, 1000] {
                var seen: [String] = []
                var cursor: AddressBookCursor? = nil
                var pages = 0
                repeat {
                    let page = try await book.page(filter, from: cursor, limit: limit, now: 2_000, scanLimit: 50)
                    #expect(page.profiles.count <= limit && page.scanned <= 50)
                    seen += page.profiles.map(\.id)
                    // The cursor travels as text, as clients pass it back.
                    cursor = try page.next.map { c throws(ContactFilterError) in try AddressBookCursor(text: c.text, partitions: 8) }
                    pages += 1
                } while cursor != nil && pages < 1000
                #expect(seen.count == expected.count && Set(seen) == expected, "limit \(limit): \(seen.count) of \(expected.count)")
            }
            var exported: [String] = []
            try await book.forEach(filter, now: 2_000) { exported += $0.map(\.id) }
            #expect(exported.count == expected.count && Set(exported) == expected)
        }
        await server.stop()
    }

    @Test("contacts added and erased while a listing pages: those present throughout are listed exactly once")
    func pagingWhileChanging() async throws {
        let (server, store, ids) = try await seeded()
        let book = AddressBook(contacts: store, chunkSize: 10)
        let erased = Set(ids.enumerated().filter { $0.offset % 4 == 1 }.map(\.element))
        var seen: [String] = []
        var cursor: AddressBookCursor? = nil
        var round = 0
        repeat {
            let page = try await book.page(.everyone, from: cursor, limit: 20, now: 2_000)
            seen += page.profiles.map(\.id)
            cursor = page.next
            // Between pages: erase a quarter of the seeded contacts (some already
            // listed, some not yet) and add new ones.
            for (i, id) in ids.enumerated() where i % 4 == 1 && i % 15 == round % 15 { try await store.delete(id) }
            var c = ContactChange()
            c.attributes = ["new": true]
            try await store.apply(c, to: "new-\(round)", now: 3_000)
            round += 1
        } while cursor != nil
        let throughout = Set(ids).subtracting(erased)
        #expect(seen.count == Set(seen).count, "no contact is listed twice")
        #expect(throughout.isSubset(of: Set(seen)), "every contact present throughout is listed")
        // Erasing takes a contact out of the address book.
        for id in erased { try await store.delete(id) }
        #expect(try await book.count(.everyone, now: 0) == ids.count - erased.count + round)
        await server.stop()
    }

    @Test("a CSV export streamed while contacts are added, changed and erased: each row once, every contact present throughout, with its filter applied")
    func exportWhileChanging() async throws {
        let (server, store, ids) = try await seeded()
        let book = AddressBook(contacts: store, chunkSize: 10)
        let filter = try ContactFilter(list: nil, tag: nil, where: "{attribute: city, eq: Praha}")
        let erased = Set(ids.enumerated().filter { $0.offset % 6 == 2 }.map(\.element))
        let columns = ContactCSV(attributes: ["city"])
        var csv = columns.header()
        var chunk = 0
        // As `GET /v1/contacts.csv` streams it: a chunk of rows written, then the
        // address book changes before the next chunk is read.
        try await book.forEach(filter, now: 2_000) { profiles in
            for p in profiles { columns.append(p, to: &csv) }
            for (i, id) in ids.enumerated() where i % 6 == 2 && i % 20 == chunk % 20 { try await store.delete(id) }
            var c = ContactChange()
            c.attributes = ["city": "Praha"]
            try await store.apply(c, to: "new-\(chunk)", now: 3_000)
            // A contact moving out of the selection: listed or not, never twice.
            var moved = ContactChange()
            moved.attributes = ["city": "Ostrava"]
            try await store.apply(moved, to: ids[(chunk * 7) % ids.count], now: 3_000)
            chunk += 1
        }
        let text = String(decoding: csv, as: UTF8.self)
        let rows = text.split(separator: "\r\n").dropFirst().map { String($0.split(separator: ",", maxSplits: 1)[0]) }
        #expect(rows.count == Set(rows).count, "no contact is exported twice")
        let moved = Set((0..<chunk).map { ids[($0 * 7) % ids.count] })
        let praha = Set(ids.enumerated().filter { $0.offset % 2 == 0 }.map(\.element)).subtracting(erased).subtracting(moved)
        #expect(praha.isSubset(of: Set(rows)), "every selected contact present and unchanged throughout is exported")
        #expect(Set(rows).isSubset(of: Set(ids).union((0..<chunk).map { "new-\($0)" })), "only contacts that existed")
        #expect(text.hasPrefix("id,email,phone,timezone,language,owner,lists,tags,attributes.city\r\n"))
        await server.stop()
    }

    @Test("deleting a list takes every member off in batches, including an index entry whose profile is gone, and can be repeated")
    func deleteList() async throws {
        let (server, store, _) = try await seeded()
        let lists = ListStore(contacts: store)
        #expect(try await lists.create(id: "newsletter", name: "News", now: 1))
        #expect(try await lists.create(id: "newsletter", name: "Again", now: 2) == false)
        #expect(try await lists.get("newsletter")?.members == 100)
        // A stale index entry (its profile erased by hand) must not bring the profile back.
        let pool = RedisPool(configuration: server.configuration, logger: Logger(label: "test"))
        try await pool.execute(["DEL", store.key("c-0")])
        #expect(try await lists.delete("newsletter", now: 5, batch: 7) == 100)
        #expect(try await store.get("c-0") == nil, "no profile is created for a stale member")
        let c3 = try await store.get("c-3")
        #expect(c3?.lists == [] && c3?.updatedAt == 5)
        #expect(try await lists.get("newsletter") == nil)
        #expect(try await lists.delete("newsletter", now: 6) == nil)
        #expect(try await AddressBook(contacts: store).count(try ContactFilter(list: "newsletter", tag: nil, where: nil), now: 0) == 0)
        await server.stop()
    }
}

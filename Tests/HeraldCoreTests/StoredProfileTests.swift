import HeraldCore
import Testing

@Suite("Stored profiles: the merge of a change into the stored document")
struct StoredProfileTests {
    func stored(_ json: String, id: String = "c-1") throws -> StoredProfile {
        try StoredProfile(decoding: Array(json.utf8), id: id)
    }

    @Test("a merge keeps what the typed profile leaves out: members it does not know and the tags beside activity times")
    func keepsUnknown() throws {
        var p = try stored(#"{"id":"c-1","future_member":{"x":1},"activity":{"page_viewed":[[100,5],[200,6]]},"attributes":{"city":"Brno"}}"#)
        var change = ContactChange()
        change.attributes = ["score": 3]
        p.apply(change, contactId: "c-1", now: 300)
        #expect(p.members["future_member"] == ["x": 1])
        #expect(p.members["activity"] == ["page_viewed": [[100, 5], [200, 6]]])
        #expect(p.members["attributes"] == ["city": "Brno", "score": 3])
        #expect(p.members["updated_at_ms"] == 300)
    }

    @Test("null removes a field or an attribute (JSONValue takes a nil literal as null, so removal must be explicit)")
    func nullRemoves() throws {
        var p = try stored(#"{"id":"c-1","email":"a@example.com","attributes":{"gender":"f","score":3}}"#)
        var change = ContactChange()
        change.fields = ["email": .null]
        change.attributes = ["gender": .null]
        p.apply(change, contactId: "c-1", now: 1)
        #expect(p.members["email"] == nil)
        #expect(p.members["attributes"] == ["score": 3])
        #expect(p.profile?.attributes == ["score": 3])
    }

    @Test("a PUT clears fields, attributes, tags and lists but keeps purchases, notes and activity")
    func replaceKeepsHistory() throws {
        var p = try stored(
            #"{"id":"c-1","email":"a@example.com","tags":{"vip":true},"lists":{"news":true},"purchases":{"b1":10},"purchases_older":2,"notes":{"n":{"text":"t","at":1}},"activity":{"x":[[1,1]]}}"#
        )
        var put = ContactChange()
        put.replace = true
        put.fields = ["phone": "+420601000001"]
        p.apply(put, contactId: "c-1", now: 5)
        #expect(p.members["email"] == nil && p.members["phone"] == "+420601000001")
        #expect(p.members["tags"] == .object([:]) && p.members["lists"] == .object([:]))
        #expect(p.members["purchases"] == ["b1": 10] && p.members["purchases_older"] == 2)
        #expect(p.members["notes"] == ["n": ["text": "t", "at": 1]] && p.members["activity"] == ["x": [[1, 1]]])
    }

    @Test("activity: in time order, a replay adds nothing, two events of one millisecond both count, the newest 20 per key and 40 keys")
    func activity() throws {
        var p = StoredProfile(id: "c-1")
        func record(_ keys: [String], _ at: Int64, _ tag: Int64) {
            var c = ContactChange()
            c.activity = (keys, at, tag)
            p.apply(c, contactId: "c-1", now: at)
        }
        record(["open"], 200, 1)
        record(["open"], 100, 2)
        record(["open"], 200, 1)  // a replay
        record(["open"], 200, 3)  // another event of the same millisecond
        #expect(p.members["activity"]?["open"] == [[100, 2], [200, 1], [200, 3]])
        for n in 0..<30 { record(["open"], 1000 + Int64(n), 9) }
        #expect(p.profile?.activity["open"]?.count == ContactActivity.timesCap)
        #expect(p.profile?.activity["open"]?.first == 1010)
        for n in 0..<45 { record(["k\(n)"], 5000 + Int64(n), 1) }
        let keys = p.profile?.activity.keys.sorted() ?? []
        #expect(keys.count == ContactActivity.keysCap)
        #expect(!keys.contains("open") && !keys.contains("k0") && keys.contains("k44"))
    }

    @Test("purchases beyond the cap are counted with their amounts; notes beyond theirs are dropped, oldest first")
    func caps() throws {
        var p = StoredProfile(id: "c-1")
        for n in 0..<(ContactProfile.purchaseCap + 3) {
            var c = ContactChange()
            c.purchase = ("b\(n)", Int64(n))
            c.purchaseTotal = n < 2 ? 10.5 : nil
            p.apply(c, contactId: "c-1", now: 1)
        }
        for n in 0..<(ContactProfile.noteCap + 1) {
            var c = ContactChange()
            c.note = ("n\(n)", "note", Int64(n))
            p.apply(c, contactId: "c-1", now: 1)
        }
        let profile = try #require(p.profile)
        #expect(profile.purchases.count == ContactProfile.purchaseCap && profile.olderPurchases == 3)
        #expect(profile.purchases["b0"] == nil && profile.purchases["b3"] == 3)
        #expect(profile.olderPurchaseTotal == 21 && profile.purchaseTotals.isEmpty)
        #expect(profile.notes.count == ContactProfile.noteCap && profile.notes["n0"] == nil)
    }

    @Test("tags, lists and attributes stop at their caps: held ones stay and change, removals make room, new ones beyond are not added")
    func nameCaps() throws {
        var p = StoredProfile(id: "c-1")
        var fill = ContactChange()
        fill.addTags = (0..<ContactProfile.tagCap).map { "t\($0)" }
        fill.addLists = (0..<ContactProfile.listCap).map { "l\($0)" }
        fill.attributes = Dictionary(uniqueKeysWithValues: (0..<ContactProfile.attributeCap).map { ("a\($0)", JSONValue.int(0)) })
        p.apply(fill, contactId: "c-1", now: 1)
        var more = ContactChange()
        more.addTags = ["new-1", "new-2", "new-3"]
        more.removeTags = ["t0", "t1", "new-3"]
        more.addLists = ["new-list"]
        more.attributes = ["a0": 7, "zz-new": 1]
        p.apply(more, contactId: "c-1", now: 2)
        let profile = try #require(p.profile)
        #expect(profile.tags.count == ContactProfile.tagCap && profile.tags.isSuperset(of: ["new-1", "new-2"]))
        #expect(!profile.tags.contains("t0") && !profile.tags.contains("new-3"), "removed, and added-then-removed, as before the caps")
        #expect(profile.lists.count == ContactProfile.listCap && !profile.lists.contains("new-list"))
        #expect(profile.attributes["a0"] == 7 && profile.attributes["zz-new"] == nil && profile.attributes.count == ContactProfile.attributeCap)
    }

    @Test("a damaged document is refused naming the contact; a damaged id is replaced by the contact's")
    func damaged() throws {
        #expect(throws: FieldError.self) { try stored("[1,2]") }
        #expect(throws: FieldError.self) { try stored("{\"id\":") }
        var p = try stored(#"{"id":7,"tags":[]}"#)
        var c = ContactChange()
        c.addTags = ["vip"]
        p.apply(c, contactId: "c-1", now: 1)
        #expect(p.profile?.id == "c-1" && p.profile?.tags == ["vip"])
    }

    @Test("the index entries: lists, and attributes that start with a YYYY-MM-DD date")
    func indexEntries() throws {
        let p = try stored(
            #"{"id":"c-1","lists":{"news":true},"attributes":{"birthday":"1990-11-23","end":"2027-01-31T00:00:00Z","nick":"2020-ish","n":20201231,"odd":"1990-1a-23"}}"#
        )
        #expect(p.indexEntries.days == ["birthday": "1990-11-23", "end": "2027-01-31"])
        #expect(p.indexEntries.lists == ["news"])
    }
}

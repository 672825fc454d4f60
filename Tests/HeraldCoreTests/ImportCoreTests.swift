import Testing

@testable import HeraldCore

@Suite("Import mapping, phones and rows")
struct ImportCoreTests {
    @Test("a mapping reads Header=target pairs with typed attributes")
    func mapping() throws {
        let m = try ImportMapping(" Telefon = phone ,Jméno=attributes.first_name,Věk=attributes.age:int,Štítky=tags,ID=id")
        #expect(m.columns.map(\.header) == ["Telefon", "Jméno", "Věk", "Štítky", "ID"])
        #expect(m.columns.map(\.target.text) == ["phone", "attributes.first_name", "attributes.age:int", "tags", "id"])
    }

    @Test(
        "a mapping that cannot be used is refused, naming the pair",
        arguments: [
            ("Telefon", "is not Header=target"), ("=phone", "names no column"), ("A=colour", "unknown target 'colour'"),
            ("A=attributes.x:float", "unknown type 'float'"), ("A=attributes.", "attribute name"), ("A=attributes.a.b", "attribute name"),
            ("A=phone,A=email", "mapped twice"), ("A=phone,B=phone", "target of two columns"), ("A=attributes.x,B=attributes.x:int", "target of two columns"),
            ("", "no column is mapped"),
        ])
    func mappingRefusals(text: String, reason: String) {
        #expect(throws: ImportError.self) { try ImportMapping(text) }
        do { _ = try ImportMapping(text) } catch { #expect(error.description.contains(reason), "\(error)") }
    }

    @Test(
        "phones as people write them become E.164",
        arguments: [
            ("601 234 567", "+420", "+420601234567"), ("+420 601-234-567", nil, "+420601234567"), ("00420601234567", nil, "+420601234567"),
            ("(0601) 234.567", "+420", "+420601234567"), ("07911 123456", "+44", "+447911123456"), ("601234567", nil, nil), ("12", "+420", nil),
            ("+420 601 234 567 ext 5", nil, nil), ("6012345678901234567", "+420", nil), ("+0601234567", nil, nil),
        ] as [(String, String?, String?)])
    func phones(raw: String, country: String?, expected: String?) {
        #expect(PhoneNumber.e164(raw, defaultCountry: country) == expected)
    }

    @Test("rows: every problem of a row by line and column; valid rows become PATCH bodies with the import's lists")
    func rows() throws {
        let header = ["ID", "Mail", "Tel", "Věk", "Narozen", "VIP", "Štítky"]
        let rows = try ImportRows(
            mapping: try ImportMapping("ID=id,Mail=email,Tel=phone,Věk=attributes.age:int,Narozen=attributes.born:date,VIP=attributes.vip:bool,Štítky=tags"),
            header: header, lists: ["newsletter"], defaultCountry: "+420")
        guard case .row(let ok) = rows.read(["c1", "a@b.cz", "601234567", "41", "4.5.1985", "ano", "vip|  | new"], line: 2) else {
            Issue.record("refused")
            return
        }
        #expect(ok.contactId == "c1")
        #expect(
            ok.body
                == [
                    "email": "a@b.cz", "phone": "+420601234567", "attributes": ["age": 41, "born": "1985-05-04", "vip": true], "tags": ["vip", "new"],
                    "lists": ["newsletter"],
                ])
        guard case .rejected(let errors) = rows.read(["", "nope", "12", "4 1", "31.2.2020", "maybe", ""], line: 9) else {
            Issue.record("accepted")
            return
        }
        #expect(errors.map(\.column) == ["ID", "Mail", "Tel", "Věk", "Narozen", "VIP"], "\(errors)")
        #expect(errors.allSatisfy { $0.line == 9 })
        // A short row: missing cells are empty, not an error (except the id).
        guard case .row(let short) = rows.read(["c2"], line: 3) else { Issue.record("refused"); return }
        #expect(short.body == ["lists": ["newsletter"]])
        // An id the intake would refuse is refused here, by its column.
        #expect(
            rows.read(["c\n3"], line: 4)
                == .rejected([.init(line: 4, column: "ID", reason: "the contact id contains a control character (a tab or a line break?)")]))
        // More fields than the header (an unquoted "Novák, Jan" shifts every later
        // field) is refused as a whole; empty extra fields (a trailing delimiter) pass.
        #expect(
            rows.read(["c4", "a@b.cz", "601234567", "41", "4.5.1985", "ano", "vip", "extra"], line: 5)
                == .rejected([
                    .init(line: 5, column: "", reason: "the row has 8 fields and the header 7: a delimiter inside a field that is not quoted?")
                ]))
        guard case .row = rows.read(["c5", "a@b.cz", "", "", "", "", "", "", " "], line: 6) else { Issue.record("refused"); return }
        // A long bad cell is quoted by its first 64 characters: each error is stored with the job.
        let long = String(repeating: "x", count: 100_000)
        guard case .rejected(let longErrors) = rows.read(["c6", long, "", long], line: 7) else { Issue.record("accepted"); return }
        #expect(longErrors.map(\.column) == ["Mail", "Věk"])
        #expect(
            longErrors.allSatisfy { $0.reason.count < 120 && $0.reason.hasPrefix("'" + String(repeating: "x", count: 64) + "…'") },
            "\(longErrors.map(\.reason.count))")
        let zones = try ImportRows(mapping: try ImportMapping("ID=id,TZ=timezone"), header: ["ID", "TZ"], lists: [], defaultCountry: nil)
        guard case .rejected(let zoneErrors) = zones.read(["c7", long], line: 2) else { Issue.record("accepted"); return }
        #expect(zoneErrors.count == 1 && zoneErrors[0].column == "TZ" && zoneErrors[0].reason.count <= 301, "\(zoneErrors.map(\.reason.count))")
    }

    @Test("a header without a mapped column, or a mapping without an id, is refused before any row")
    func headerRefusals() {
        #expect(throws: ImportError.self) { try ImportRows(mapping: try ImportMapping("X=email"), header: ["ID"], lists: [], defaultCountry: nil) }
        #expect(throws: ImportError.self) { try ImportRows(mapping: try ImportMapping("ID=email"), header: ["ID"], lists: [], defaultCountry: nil) }
        #expect(throws: ImportError.self) { try ImportRows(mapping: try ImportMapping("ID=id"), header: ["ID"], lists: [], defaultCountry: "420") }
        // A header of 100,000 columns is named by its first 20, not copied whole
        // into the job's error (stored with the job and shown on every GET).
        let wide = (0..<100_000).map { "column-\($0)" }
        let error = #expect(throws: ImportError.self) { try ImportRows(mapping: try ImportMapping("X=id"), header: wide, lists: [], defaultCountry: nil) }
        #expect(
            error?.description.hasSuffix("column-19 and 99980 more)") == true && (error?.description.utf8.count ?? 0) < 1_000,
            "\(error?.description.prefix(200) ?? "")")
    }

    @Test("matching by email or phone: the key column is required and must not be empty; keys are normalised; ids derive from them alone")
    func matchKeys() throws {
        #expect(throws: ImportError.self) {
            try ImportRows(mapping: try ImportMapping("T=phone"), header: ["T"], lists: [], defaultCountry: nil, match: .email)
        }
        let byEmail = try ImportRows(mapping: try ImportMapping("E=email,N=attributes.n"), header: ["E", "N"], lists: [], defaultCountry: nil, match: .email)
        guard case .row(let row) = byEmail.read([" Ada@Example.COM ", "1"], line: 2) else { Issue.record("refused"); return }
        #expect(row.contactId == nil && row.matchKey == "ada@example.com")
        #expect(byEmail.read(["", "1"], line: 3) == .rejected([.init(line: 3, column: "E", reason: "the email is empty, and this import matches by it")]))
        let byPhone = try ImportRows(mapping: try ImportMapping("ID=id,T=phone"), header: ["ID", "T"], lists: [], defaultCountry: "+420", match: .phone)
        guard case .row(let phoneRow) = byPhone.read(["", "601 000 001"], line: 2) else { Issue.record("refused"); return }
        #expect(phoneRow.contactId == nil && phoneRow.matchKey == "+420601000001", "an empty id is allowed when matching by phone")
        guard case .row(let withId) = byPhone.read(["c9", "601000001"], line: 3) else { Issue.record("refused"); return }
        #expect(withId.contactId == "c9")
        #expect(ImportMatch.email.derivedId("ada@example.com") == ImportMatch.email.derivedId("ada@example.com"))
        #expect(ImportMatch.email.derivedId("ada@example.com") != ImportMatch.phone.derivedId("ada@example.com"))
        #expect(ImportMatch.email.derivedId("ada@example.com").hasPrefix("email-") && ImportMatch.email.derivedId("x").count == 30)
    }

    @Test(
        "column types a dry run shows",
        arguments: [
            (["1", "22", ""], "int"), (["01234"], "text"), (["3,5", "2"], "number"), (["ano", "ne"], "bool"), (["2026-01-31", "6.12.2026"], "date"),
            (["a@b.cz"], "email"), (["+420 601 234 567"], "phone"), ([""], "empty"), (["x", "1"], "text"),
        ])
    func types(cells: [String], expected: String) {
        #expect(ImportRows.detectType(cells) == expected)
    }
}

@Suite("What an import announces as events")
struct ImportAnnouncementsTests {
    func campaign(_ id: String, list: String = "news", triggers: String, exits: String = "") throws -> Campaign {
        try CampaignParser.parse(
            "id: \(id)\nlist: \(list)\ntriggers:\n\(triggers)\n\(exits)steps:\n  - id: hello\n    send: {channel: email, template: welcome}\n",
            file: "\(id).yaml")
    }

    @Test("lists a campaign starts on with include_imports, tags a campaign starts on; every list or tag when an event trigger or an exit reads the type")
    func announcements() throws {
        #expect(ImportAnnouncements(campaigns: []) == ImportAnnouncements())
        let plain = try campaign("a", triggers: "  - list_subscribed: news")
        let imports = try campaign("b", list: "weekly", triggers: "  - list_subscribed: {include_imports: true}\n  - tag_added: vip")
        var a = ImportAnnouncements(campaigns: [plain, imports])
        #expect(a.lists == ["weekly"] && a.tags == ["vip"] && !a.allLists && !a.allTags)
        #expect(a.announces(list: "weekly") && !a.announces(list: "news") && a.announces(tag: "vip") && !a.announces(tag: "other"))
        a = ImportAnnouncements(campaigns: [try campaign("c", triggers: "  - event: list_subscribed")])
        #expect(a.allLists && a.announces(list: "anything") && !a.announces(tag: "vip"))
        a = ImportAnnouncements(campaigns: [try campaign("d", triggers: "  - purchase", exits: "exit:\n  - event: tag_added\n")])
        #expect(a.allTags && !a.allLists)
    }
}

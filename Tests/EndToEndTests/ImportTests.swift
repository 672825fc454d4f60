import Foundation
import Glibc
import HeraldChannels
import HeraldCore
import HeraldDevTools
import HeraldKafka
import HeraldRedis
import HeraldTestSupport
import Logging
import Testing

@Suite("CSV import (real ingestor, broker and redis-server; heraldctl)", .timeLimit(.minutes(3)))
struct ImportTests {
    let client = HTTPClient(concurrency: 4)

    /// A Czech export: Windows-1250, `;`, a quoted field with a line break, bad rows.
    static let czech: [UInt8] = {
        let text =
            [
                "ID;Jméno;Telefon;E-mail;Věk;Poznámka",
                "c1;Věra;601 234 567;vera@example.com;41;\"první řádek\r\ndruhý řádek\"",
                "c2;Jiří;+420 602 000 000;jiri@example.com;35;",
                "c3;Žofie;12;zofie@example.com;29;",  // line 5: a bad phone
                "c4;Šimon;603000000;not-an-email;abc;",  // line 6: a bad email and a bad age
                "c5;Řehoř;00420604000000;rehor@example.com;;",
            ].joined(separator: "\r\n") + "\r\n"
        return Array(text.data(using: .windowsCP1250)!)
    }()

    func get(_ ingestor: TestIngestor, _ path: String) async throws -> JSONValue {
        let r = try await client.send(method: "GET", url: "\(ingestor.apiURL)\(path)", headers: [("Authorization", "Bearer \(TestIngestor.adminKey)")])
        return (try? JSONValue.parse(r.body)) ?? .null
    }

    /// Sends `signal` to the ingestor running import `job` once 3,000 of its rows are committed; the rows committed then.
    func signal(_ ingestor: TestIngestor, _ signal: Int32, job: String) async throws -> Int64 {
        for _ in 0..<2000 {
            if case .int(let c)? = try await get(ingestor, "/v1/imports/\(job)")["committed"], c >= 3000 {
                ingestor.process.signal(signal)
                return c
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        return 0
    }

    /// Import `job` once it is no longer running (or after a minute).
    func finished(_ ingestor: TestIngestor, job: String) async throws -> JSONValue {
        var done: JSONValue = .null
        for _ in 0..<600 {
            done = try await get(ingestor, "/v1/imports/\(job)")
            if done["state"] != "running" { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        return done
    }

    /// The contacts of the `contact_updated` events on `herald.events`, once at least `n` records are there.
    func contactUpdates(_ broker: TestBroker, atLeast n: Int) async throws -> [String] {
        let records = try await readTopic(Topics.events, bootstrapServers: broker.bootstrapServers, timeout: .seconds(60)) { $0.count >= n }
        try await Task.sleep(for: .seconds(1))
        return records.compactMap { try? Event(decoding: $0.value) }.filter { $0.type == "contact_updated" }.map(\.contactId)
    }

    @Test(
        "a Windows-1250 file with ';' and a multi-line field: mapped, phones made E.164, bad rows reported by line and column, the rest imported; a rerun changes and starts nothing"
    )
    func czechImport() async throws {
        let broker = try TestBroker.start(partitions: 2)
        let redis = try await TestRedisServer()
        let ingestor = try await TestIngestor(broker: broker, redis: redis)
        let dir = try temporaryDirectory("import")
        let file = "\(dir)/kontakty.csv"
        #expect(FileManager.default.createFile(atPath: file, contents: Data(Self.czech)))
        func heraldctl(_ arguments: [String]) async throws -> (Int32, String) {
            let cli = try ChildProcess(
                executable: try BuiltProducts.executable("heraldctl"),
                arguments: ["contacts"] + arguments + ["--api", ingestor.apiURL, "--admin-key", TestIngestor.adminKey], output: .file("\(dir)/out"))
            let code = await cli.wait()
            return (code, (try? String(contentsOfFile: "\(dir)/out", encoding: .utf8)) ?? "")
        }
        // A campaign that starts on imported subscriptions, so the import announces them as events.
        let yaml =
            "id: imported\nlist: newsletter\ntriggers:\n  - list_subscribed: {include_imports: true}\nsteps:\n  - id: hello\n    send: {channel: email, template: welcome}\n"
        let published = try await client.send(
            method: "POST", url: "\(ingestor.apiURL)/v1/campaigns/imported/publish",
            headers: [("Authorization", "Bearer \(TestIngestor.adminKey)"), ("Content-Type", "application/yaml")], body: Array(yaml.utf8))
        #expect(published.status == 200, "\(published.bodyText)")
        let map = "ID=id,Jméno=attributes.first_name,Telefon=phone,E-mail=email,Věk=attributes.age:int,Poznámka=attributes.note"
        let args = ["import", file, "--map", map, "--list", "newsletter", "--country", "+420"]
        // A dry run: detected dialect and types, the first rows as mapped, the errors; nothing changes.
        let dry = try await heraldctl(args + ["--dry-run"])
        let answer = try JSONValue.parse(string: String(dry.1.split(separator: "\n").first ?? ""))
        #expect(dry.0 == 0 && answer["encoding"] == "windows-1250" && answer["delimiter"] == ";", "\(dry)")
        #expect(answer["header"]?.arrayValue?.first == "ID" && answer["header"]?.arrayValue?[1] == "Jméno")
        #expect(answer["rows"]?.arrayValue?.first?["change"]?["phone"] == "+420601234567", "\(answer)")
        #expect(answer["columns"]?.arrayValue?.first { $0["header"] == "Věk" }?["detected"] == "text", "a column with 'abc' is text: \(answer)")
        #expect(try await get(ingestor, "/v1/contacts?count=true")["count"] == 0, "a dry run changes nothing")
        // A directory or a missing file is named as such, before anything is sent.
        let directory = try await heraldctl(["import", dir])
        #expect(directory.0 == 1 && directory.1.contains("cannot read \(dir): it is a directory"), "\(directory)")
        let missing = try await heraldctl(["import", "\(dir)/nope.csv"])
        #expect(missing.0 == 1 && missing.1.contains("no such file"), "\(missing)")
        // The import.
        let run = try await heraldctl(args + ["--errors", "\(dir)/errors.csv"])
        #expect(run.0 == 0 && run.1.contains("done — rows 5, created 3, updated 0, rejected 2"), "\(run)")
        let errors = try String(contentsOfFile: "\(dir)/errors.csv", encoding: .utf8)
        #expect(errors.contains("5,Telefon,'12' is not a phone number"), "\(errors)")
        #expect(errors.contains("6,E-mail,") && errors.contains("6,Věk,'abc' is not a whole number"), "\(errors)")
        // Profiles arrive through herald.events and the profile applier.
        var vera: JSONValue = .null
        for _ in 0..<100 {
            vera = try await get(ingestor, "/v1/contacts/c1")
            if vera["phone"] != nil { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(vera["phone"] == "+420601234567" && vera["lists"] == ["newsletter"] && vera["attributes"]?["first_name"] == "Věra", "\(vera)")
        #expect(vera["attributes"]?["note"] == "první řádek\r\ndruhý řádek" && vera["attributes"]?["age"] == 41)
        #expect(try await get(ingestor, "/v1/contacts/c5")["phone"] == "+420604000000")
        // Running it again reports the same job; importing the file again as a new job makes no list event twice.
        let again = try await heraldctl(args)
        #expect(again.0 == 0 && again.1.contains("done — rows 5, created 3"), "\(again)")
        let second = try await heraldctl(args.filter { $0 != "+420" && $0 != "--country" } + ["--country", "+420", "--mode", "only_existing"])
        #expect(second.0 == 0 && second.1.contains("updated 3") && second.1.contains("rejected 2"), "\(second)")
        let events = try await readTopic(Topics.events, bootstrapServers: broker.bootstrapServers, timeout: .seconds(8)) { _ in false }
            .compactMap { try? Event(decoding: $0.value) }
        #expect(events.filter { $0.type == "list_subscribed" }.count == 3, "one list event per contact: \(events.map(\.type))")
        #expect(events.filter { $0.type == "contact_updated" }.allSatisfy { $0.properties["lists"] == ["newsletter"] }, "each row is one profile change")
        #expect(events.filter { $0.type != "contact_updated" }.allSatisfy { $0.properties["source"] == "import" })
        // The template: the address book's columns.
        let cli = try ChildProcess(
            executable: try BuiltProducts.executable("heraldctl"), arguments: ["contacts", "template"], output: .file("\(dir)/template"))
        #expect(await cli.wait() == 0)
        let template = (0, (try? String(contentsOfFile: "\(dir)/template", encoding: .utf8)) ?? "")
        #expect(template.1.hasPrefix("id,email,phone,timezone,language,owner,lists,tags"), "\(template)")
        await ingestor.process.stop()
        await redis.stop()
    }

    @Test("refusals name the parameter or the file's problem; an oversized body gets 413")
    func refusals() async throws {
        let broker = try TestBroker.start(partitions: 2)
        let redis = try await TestRedisServer()
        let ingestor = try await TestIngestor(broker: broker, redis: redis, extraEnvironment: ["HERALD_IMPORTS_MAX_BYTES": "2048"])
        func post(_ query: String, _ body: String) async throws -> (Int, JSONValue) {
            let r = try await client.send(
                method: "POST", url: "\(ingestor.apiURL)/v1/imports?\(query)", headers: [("Authorization", "Bearer \(TestIngestor.adminKey)")],
                body: Array(body.utf8))
            return (r.status, (try? JSONValue.parse(r.body)) ?? .null)
        }
        for (query, field) in [
            ("map=Phone", "map"), ("map=A=colour", "map"), ("mode=merge", "mode"), ("match=name", "match"), ("country=420", "country"),
            ("encoding=latin1", "encoding"), ("id=Bad%20Id", "id"), ("list=vip%09x", "list"), ("list=" + String(repeating: "l", count: 257), "list"),
            ((1...1001).map { "list=l\($0)" }.joined(separator: "&"), "list"),
        ] {
            let (status, answer) = try await post(query, "id\nx\n")
            #expect(status == 400 && answer["field"]?.stringValue == field, "\(query): \(status) \(answer)")
        }
        let (noColumn, answer) = try await post("map=Telefon%3Dphone&dry_run=true", "ID,Phone\nx,1\n")
        #expect(noColumn == 422 && answer["detail"]?.stringValue?.contains("no column 'Telefon'") == true, "\(answer)")
        let (noKey, keyAnswer) = try await post("match=email&dry_run=true", "id,phone\nx,+420601000001\n")
        #expect(noKey == 422 && keyAnswer["detail"]?.stringValue?.contains("matches by email") == true, "\(keyAnswer)")
        #expect(try await post("dry_run=true", "id\n" + String(repeating: "x\n", count: 2000)).0 == 413)
        await ingestor.process.stop()
        await redis.stop()
    }

    /// An ingestor that alone sees a 256 KiB file system at `imports.dir` (its
    /// own mount namespace; the machine's tests run as root, as
    /// ImageLayoutTests needs).
    func smallSpoolIngestor(_ broker: TestBroker, _ redis: TestRedisServer) async throws -> TestIngestor {
        let spool = try temporaryDirectory("import-spool")
        let launcher: TestIngestor.Launcher = { path in
            ("/usr/bin/unshare", ["-m", "--propagation", "private", "/bin/sh", "-c", "mount -t tmpfs -o size=256k tmpfs \"$0\" && exec \"$1\"", spool, path])
        }
        return try await TestIngestor(broker: broker, redis: redis, extraEnvironment: ["HERALD_IMPORTS_DIR": spool], launcher: launcher)
    }

    @Test(
        "a full spool directory (imports.dir on a 256 KiB tmpfs) answers 507 naming imports.dir, keeps no part of the upload, and the next import that fits runs"
    )
    func fullSpool() async throws {
        let broker = try TestBroker.start(partitions: 2)
        let redis = try await TestRedisServer()
        let ingestor = try await smallSpoolIngestor(broker, redis)
        func post(_ id: String, _ body: String) async throws -> (Int, JSONValue) {
            let r = try await client.send(
                method: "POST", url: "\(ingestor.apiURL)/v1/imports?id=\(id)", headers: [("Authorization", "Bearer \(TestIngestor.adminKey)")],
                body: Array(body.utf8), timeout: .seconds(30))
            return (r.status, (try? JSONValue.parse(r.body)) ?? .null)
        }
        var big = "id,email\n"
        for i in 0..<20_000 { big += "s\(i),s\(i)@example.com\n" }
        let (status, answer) = try await post("too-big", big)
        #expect(status == 507 && answer["detail"]?.stringValue?.contains("no space left in imports.dir") == true, "\(status) \(answer)")
        #expect(try await get(ingestor, "/v1/imports/too-big")["status"] == 404, "no job for an upload that was not kept")
        // Had the partial upload stayed, the 256 KiB would still be full.
        var small = "id,email\n"
        for i in 0..<2_000 { small += "t\(i),t\(i)@example.com\n" }
        #expect(try await post("fits", small).0 == 202)
        let done = try await finished(ingestor, job: "fits")
        #expect(done["state"] == "done" && done["created"] == 2000, "\(done)")
        await ingestor.process.stop()
        await redis.stop()
    }

    @Test(
        "a Windows-1250 file whose conversion fills imports.dir fails its job naming imports.dir, leaves nothing behind, and the ingestor runs on"
    )
    func conversionDiskFull() async throws {
        let broker = try TestBroker.start(partitions: 2)
        let redis = try await TestRedisServer()
        let ingestor = try await smallSpoolIngestor(broker, redis)
        // 150 KB as Windows-1250 fits; as UTF-8 (each of its Czech letters two
        // bytes) it does not fit beside it. Foundation's FileHandle.write(_:)
        // trapped on the full disk and stopped the ingestor.
        var text = "ID;Jméno\r\n"
        for i in 0..<4_000 { text += "c\(i);Žluťoučký kůň úpěl ďábelské ódy\r\n" }
        let body = Array(text.data(using: .windowsCP1250)!)
        #expect(body.count > 140_000 && body.count < 200_000, "\(body.count) bytes")
        let r = try await client.send(
            method: "POST", url: "\(ingestor.apiURL)/v1/imports?id=czech-full&map=ID%3Did,Jm%C3%A9no%3Dattributes.name",
            headers: [("Authorization", "Bearer \(TestIngestor.adminKey)")], body: body, timeout: .seconds(30))
        #expect(r.status == 202, "\(r.bodyText)")
        let failed = try await finished(ingestor, job: "czech-full")
        #expect(failed["state"] == "failed", "\(failed)")
        #expect(failed["error"]?.stringValue?.contains("cannot be written to imports.dir") == true, "\(failed)")
        // Still running, and the space is free again: the upload and the partial conversion are gone.
        var small = "id,email\n"
        for i in 0..<2_000 { small += "u\(i),u\(i)@example.com\n" }
        let again = try await client.send(
            method: "POST", url: "\(ingestor.apiURL)/v1/imports?id=after-full", headers: [("Authorization", "Bearer \(TestIngestor.adminKey)")],
            body: Array(small.utf8), timeout: .seconds(30))
        #expect(again.status == 202, "\(again.bodyText)")
        let done = try await finished(ingestor, job: "after-full")
        #expect(done["state"] == "done" && done["created"] == 2000, "\(done)")
        await ingestor.process.stop()
        await redis.stop()
    }

    @Test("an imports.dir the ingestor cannot write (missing, or a file) stops it at start, naming imports.dir and the problem")
    func unusableSpool() async throws {
        let broker = try TestBroker.start(partitions: 2)
        let redis = try await TestRedisServer()
        let dir = try temporaryDirectory("import-spool-bad")
        #expect(FileManager.default.createFile(atPath: "\(dir)/file", contents: Data("x".utf8)))
        for (path, problem) in [("\(dir)/missing", "does not exist"), ("\(dir)/file", "is not a directory")] {
            do {
                let ingestor = try await TestIngestor(broker: broker, redis: redis, extraEnvironment: ["HERALD_IMPORTS_DIR": path])
                Issue.record("started with imports.dir \(path)")
                await ingestor.process.stop()
            } catch {
                #expect("\(error)".contains("imports.dir '\(path)' \(problem)"), "\(error)")
            }
        }
        await redis.stop()
    }

    @Test(
        "a row too large for an event is rejected by its line and the rest imported, a row with only its id skipped; a quote never closed fails the import at its line, with the rows before it imported and counted"
    )
    func oversizedRows() async throws {
        let broker = try TestBroker.start(partitions: 2)
        let redis = try await TestRedisServer()
        let ingestor = try await TestIngestor(broker: broker, redis: redis)
        func runImport(_ id: String, _ csv: String) async throws -> JSONValue {
            let r = try await client.send(
                method: "POST", url: "\(ingestor.apiURL)/v1/imports?id=\(id)", headers: [("Authorization", "Bearer \(TestIngestor.adminKey)")],
                body: Array(csv.utf8))
            #expect(r.status == 202, "\(r.bodyText)")
            for _ in 0..<200 {
                let job = try await get(ingestor, "/v1/imports/\(id)")
                if job["state"] != "running" { return job }
                try await Task.sleep(for: .milliseconds(50))
            }
            return .null
        }
        // 600 KB of notes: within the row limit, over the event limit (512 KiB).
        let huge = String(repeating: "n", count: 600_000)
        // A row with only its id sets nothing: skipped, not "created".
        var job = try await runImport("big-row", "id,attributes.note\nsmall-1,a\nhuge,\(huge)\nsmall-2,b\nid-only,\n")
        #expect(job["state"] == "done" && job["created"] == 2 && job["rejected"] == 1 && job["skipped"] == 1, "\(job)")
        let errors = try await client.send(
            method: "GET", url: "\(ingestor.apiURL)/v1/imports/big-row/errors.csv", headers: [("Authorization", "Bearer \(TestIngestor.adminKey)")])
        #expect(errors.bodyText.contains("3,,\"the row is 600"), "\(errors.bodyText)")
        // A quote never closed on line 4, then 2 MB: the file fails there (the row limit is 1 MiB).
        let rest = (0..<100_000).map { "r\($0),x\n" }.joined() + String(repeating: "z", count: 1_200_000)
        job = try await runImport("unclosed", "id,attributes.note\nq-1,a\nq-2,b\nq-3,\"never closed\n" + rest)
        #expect(job["state"] == "failed" && job["created"] == 2 && job["committed"] == 2, "\(job)")
        #expect(job["error"]?.stringValue?.contains("line 4: a row is longer than 1024 KiB") == true, "\(job)")
        var found: JSONValue = .null
        for _ in 0..<100 where found["id"] == nil {
            found = try await get(ingestor, "/v1/contacts/q-2")
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(found["id"] == "q-2" && found["attributes"]?["note"] == "b", "\(found)")
        #expect(try await get(ingestor, "/v1/contacts/q-3")["id"] == nil)
        await ingestor.process.stop()
        await redis.stop()
    }

    @Test(
        "matching by email (any case) or phone updates the contact that holds it, creates one contact per new address with a derived id, and a rerun of the file changes nothing"
    )
    func matchByEmailAndPhone() async throws {
        let broker = try TestBroker.start(partitions: 2)
        let redis = try await TestRedisServer()
        let ingestor = try await TestIngestor(broker: broker, redis: redis)
        func send(_ method: String, _ path: String, _ body: String) async throws -> (Int, JSONValue) {
            let r = try await client.send(
                method: method, url: "\(ingestor.apiURL)\(path)",
                headers: [("Authorization", "Bearer \(TestIngestor.adminKey)"), ("Content-Type", "application/json")], body: Array(body.utf8))
            return (r.status, (try? JSONValue.parse(r.body)) ?? .null)
        }
        #expect(try await send("PUT", "/v1/contacts/ada", #"{"email":"Ada@Example.com"}"#).0 == 200)
        #expect(try await send("PUT", "/v1/contacts/bob", #"{"phone":"+420601000001","attributes":{"city":"Plzeň"}}"#).0 == 200)
        func runImport(_ id: String, _ query: String, _ csv: String) async throws -> JSONValue {
            let (status, started) = try await send("POST", "/v1/imports?id=\(id)&\(query)", csv)
            #expect(status == 202, "\(started)")
            for _ in 0..<200 {
                let job = try await get(ingestor, "/v1/imports/\(id)")
                if job["state"] != "running" { return job }
                try await Task.sleep(for: .milliseconds(50))
            }
            return .null
        }
        func settled(_ path: String, until ok: (JSONValue) -> Bool) async throws -> JSONValue {
            var v: JSONValue = .null
            for _ in 0..<100 {
                v = try await get(ingestor, path)
                if ok(v) { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            return v
        }
        let byEmail = "email,attributes.city\nada@example.com,Praha\nnew@example.com,Brno\nNEW@Example.com,Brno\n,Ostrava\n"
        var job = try await runImport("mail-1", "match=email", byEmail)
        #expect(job["state"] == "done" && job["updated"] == 2 && job["created"] == 1 && job["rejected"] == 1, "the second row of new@ finds the first: \(job)")
        let derived = ImportMatch.email.derivedId("new@example.com")
        #expect(try await settled("/v1/contacts/ada") { $0["attributes"]?["city"] == "Praha" }["attributes"]?["city"] == "Praha")
        #expect(try await settled("/v1/contacts/\(derived)") { $0["email"] != nil }["email"] == "NEW@Example.com")
        #expect(try await get(ingestor, "/v1/contacts?count=true")["count"] == 3, "ada, bob and one new contact, not two")
        let errors = try await client.send(
            method: "GET", url: "\(ingestor.apiURL)/v1/imports/mail-1/errors.csv", headers: [("Authorization", "Bearer \(TestIngestor.adminKey)")])
        #expect(errors.bodyText.contains("5,email,\"the email is empty"), "\(errors.bodyText)")
        // The same file again as a new job: the address book stays as it is.
        job = try await runImport("mail-2", "match=email", byEmail)
        #expect(job["updated"] == 3 && job["created"] == 0, "the new contact is found by its address now: \(job)")
        try await Task.sleep(for: .seconds(1))
        #expect(try await get(ingestor, "/v1/contacts?count=true")["count"] == 3)
        // only_new skips the contacts an address finds.
        job = try await runImport("mail-3", "match=email&mode=only_new", "email\nada@example.com\nthird@example.com\n")
        #expect(job["skipped"] == 1 && job["created"] == 1, "\(job)")
        // By phone, written as people write it, made E.164 first.
        job = try await runImport(
            "tel-1", "match=phone&country=%2B420&map=Telefon%3Dphone,Jm%C3%A9no%3Dattributes.first_name", "Telefon,Jméno\n601 000 001,Bob\n602000002,Eva\n")
        #expect(job["updated"] == 1 && job["created"] == 1, "\(job)")
        let bob = try await settled("/v1/contacts/bob") { $0["attributes"]?["first_name"] != nil }
        #expect(bob["attributes"]?["first_name"] == "Bob" && bob["attributes"]?["city"] == "Plzeň", "\(bob)")
        let eva = try await settled("/v1/contacts/\(ImportMatch.phone.derivedId("+420602000002"))") { $0["phone"] != nil }
        #expect(eva["phone"] == "+420602000002" && eva["attributes"]?["first_name"] == "Eva", "\(eva)")
        await ingestor.process.stop()
        await redis.stop()
    }

    @Test("SIGKILL of the ingestor mid-import: a retry of the same import resumes where it was, and every row reaches herald.events exactly once")
    func killAndResume() async throws {
        let broker = try TestBroker.start(partitions: 4)
        let redis = try await TestRedisServer()
        let environment = ["HERALD_IMPORTS_STALE_AFTER": "1s"]
        let first = try await TestIngestor(broker: broker, redis: redis, extraEnvironment: environment)
        let n = 40_000
        var csv = "id,email,attributes.n\n"
        for i in 0..<n { csv += "k\(i),k\(i)@example.com,\(i)\n" }
        func start(_ ingestor: TestIngestor) async throws -> Int {
            let request = HTTPRequest(
                method: "POST", url: "\(ingestor.apiURL)/v1/imports?id=big-1&map=id%3Did,email%3Demail,attributes.n%3Dattributes.n:int",
                headers: [("Authorization", "Bearer \(TestIngestor.adminKey)")], body: Array(csv.utf8), timeout: .seconds(60))
            return try await client.send(many: [request])[0].result.get().status
        }
        #expect(try await start(first) == 202)
        // Kill it once some batches are committed, well before the end.
        let killedAt = try await signal(first, SIGKILL, job: "big-1")
        #expect(killedAt > 0 && killedAt < Int64(n), "killed after \(killedAt) rows")
        _ = await first.process.wait()
        // Another ingestor; the same import again (as `heraldctl contacts import` reruns it) once the heartbeat is stale.
        let second = try await TestIngestor(broker: broker, redis: redis, extraEnvironment: environment)
        try await Task.sleep(for: .seconds(1.5))
        #expect(try await start(second) == 202)
        let done = try await finished(second, job: "big-1")
        #expect(done["state"] == "done" && done["rows"] == .int(Int64(n)) && done["rejected"] == 0, "\(done)")
        func int(_ v: JSONValue?) -> Int64 { if case .int(let c)? = v { c } else { -1 } }
        #expect(int(done["created"]) + int(done["updated"]) == Int64(n), "\(done)")
        // Every row once on herald.events: none lost, none doubled by the replayed batch.
        let ids = try await contactUpdates(broker, atLeast: n)
        #expect(ids.count == n && Set(ids).count == n, "\(ids.count) events for \(Set(ids).count) contacts")
        await second.process.stop()
        await redis.stop()
    }

    @Test(
        "SIGKILL of the ingestor under heraldctl contacts import, then a new one on the same address: the CLI sees the heartbeat stop, uploads the file again, and the import ends done with every row"
    )
    func cliResumesAfterRestart() async throws {
        let broker = try TestBroker.start(partitions: 4)
        let redis = try await TestRedisServer()
        let port = freeTCPPort()
        let api = "http://127.0.0.1:\(port)"
        // One batch ahead of the profiles at a time: the import goes at the
        // applier's pace, so the kill after 3,000 profiles comes well before the
        // end without a file so large that it slows the tests running beside it.
        let environment = ["HERALD_IMPORTS_STALE_AFTER": "1s", "HERALD_API_PORT": String(port), "HERALD_IMPORTS_BATCHES_AHEAD": "1"]
        let first = try await TestIngestor(broker: broker, redis: redis, extraEnvironment: environment)
        let n = 40_000
        var csv = "id,email\n"
        for i in 0..<n { csv += "r\(i),r\(i)@example.com\n" }
        let dir = try temporaryDirectory("import-cli-resume")
        #expect(FileManager.default.createFile(atPath: "\(dir)/contacts.csv", contents: Data(csv.utf8)))
        let cli = try ChildProcess(
            executable: try BuiltProducts.executable("heraldctl"),
            arguments: ["contacts", "import", "\(dir)/contacts.csv", "--api", api, "--admin-key", TestIngestor.adminKey, "--resume-after", "3"],
            output: .file("\(dir)/out"))
        func count() async throws -> Int64 {
            let r = try? await client.send(method: "GET", url: "\(api)/v1/contacts?count=true", headers: [("Authorization", "Bearer \(TestIngestor.adminKey)")])
            if let r, case .int(let c)? = (try? JSONValue.parse(r.body))?["count"] { return c }
            return -1
        }
        var before: Int64 = 0
        for _ in 0..<2000 where before < 3000 {
            before = try await count()
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(before >= 3000 && before < Int64(n), "killed after \(before) contacts")
        first.process.signal(SIGKILL)
        _ = await first.process.wait()
        // The job stays "running" with the dead process's last heartbeat. Before,
        // the CLI followed it for ever.
        let second = try await TestIngestor(broker: broker, redis: redis, extraEnvironment: environment)
        let code = await cli.wait(timeout: .seconds(120))
        let out = (try? String(contentsOfFile: "\(dir)/out", encoding: .utf8)) ?? ""
        #expect(code == 0 && out.contains("uploading it again to resume it") && out.contains("done — rows \(n), created"), "\(code ?? -1): \(out.suffix(600))")
        var after: Int64 = 0
        for _ in 0..<300 where after < Int64(n) {
            after = try await count()
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(after == Int64(n))
        await second.process.stop()
        await redis.stop()
    }

    @Test(
        "imports side by side share one bound on the batches ahead of the profiles (imports.batches_ahead), give their places back when done, and each import every row"
    )
    func sharedPacing() async throws {
        let broker = try TestBroker.start(partitions: 4)
        let redis = try await TestRedisServer()
        let ingestor = try await TestIngestor(broker: broker, redis: redis, extraEnvironment: ["HERALD_IMPORTS_BATCHES_AHEAD": "2"])
        let imports = 4, n = 10_000
        let requests = (0..<imports).map { k in
            var csv = "id,email\n"
            for i in 0..<n { csv += "p\(k)-\(i),p\(k)-\(i)@example.com\n" }
            return HTTPRequest(
                method: "POST", url: "\(ingestor.apiURL)/v1/imports?id=paced-\(k)", headers: [("Authorization", "Bearer \(TestIngestor.adminKey)")],
                body: Array(csv.utf8), timeout: .seconds(60))
        }
        #expect(try await client.send(many: requests).map { try $0.result.get().status } == Array(repeating: 202, count: imports))
        func ahead() async throws -> Int? {
            let text = try await client.get("\(ingestor.metricsURL)/metrics").bodyText
            return text.split(separator: "\n").first { $0.hasPrefix("herald_import_batches_ahead{") }.flatMap { Double($0.split(separator: " ").last ?? "") }
                .map { Int($0) }
        }
        // Sampled while the four run: never past the one bound of them all (each
        // once had a bound of its own: up to 8 here).
        var seen: [Int] = []
        var states: [JSONValue] = []
        for _ in 0..<3000 {
            if let a = try await ahead() { seen.append(a) }
            states = []
            for k in 0..<imports { states.append(try await get(ingestor, "/v1/imports/paced-\(k)")["state"] ?? .null) }
            if !states.contains("running") { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(states == Array(repeating: "done", count: imports), "\(states)")
        #expect(!seen.isEmpty && seen.max()! <= 2, "batches ahead sampled: max \(seen.max() ?? -1) over \(seen.count) samples")
        #expect(seen.contains(2), "the bound was reached while the imports ran")
        #expect(try await ahead() == 0, "places given back")
        for k in 0..<imports {
            let job = try await get(ingestor, "/v1/imports/paced-\(k)")
            #expect(job["created"] == .int(Int64(n)) && job["rows"] == .int(Int64(n)), "\(job)")
        }
        var contacts: Int64 = 0
        for _ in 0..<100 where contacts < Int64(imports * n) {
            if case .int(let c)? = try await get(ingestor, "/v1/contacts?count=true")["count"] { contacts = c }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(contacts == Int64(imports * n))
        await ingestor.process.stop()
        await redis.stop()
    }

    @Test(
        "Redis unreachable mid-import (SIGSTOP past the command timeout, then SIGCONT): the import and heraldctl following it wait, and it ends done with every row, each rejected row reported once"
    )
    func redisOutage() async throws {
        let broker = try TestBroker.start(partitions: 4)
        let redis = try await TestRedisServer()
        let ingestor = try await TestIngestor(broker: broker, redis: redis)
        let n = 30_000
        var csv = "id,email\n"
        // Every 100th row has a bad email: 300 rejected rows across the batches.
        for i in 0..<n { csv += "o\(i),\(i % 100 == 7 ? "not-an-email" : "o\(i)@example.com")\n" }
        let dir = try temporaryDirectory("import-outage")
        #expect(FileManager.default.createFile(atPath: "\(dir)/contacts.csv", contents: Data(csv.utf8)))
        let cli = try ChildProcess(
            executable: try BuiltProducts.executable("heraldctl"),
            arguments: [
                "contacts", "import", "\(dir)/contacts.csv", "--errors", "\(dir)/errors.csv", "--api", ingestor.apiURL, "--admin-key", TestIngestor.adminKey,
            ], output: .file("\(dir)/out"))
        var count: Int64 = 0
        for _ in 0..<2000 where count < 3000 {
            if case .int(let c)? = try await get(ingestor, "/v1/contacts?count=true")["count"] { count = c }
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(count >= 3000 && count < Int64(n), "paused after \(count) contacts")
        // Longer than the Redis command timeout (2 s): the importer's calls and the
        // API's answers to the CLI's polls fail meanwhile.
        redis.signal(SIGSTOP)
        try await Task.sleep(for: .seconds(5))
        redis.signal(SIGCONT)
        let code = await cli.wait()
        let out = (try? String(contentsOfFile: "\(dir)/out", encoding: .utf8)) ?? ""
        #expect(code == 0 && out.contains("done — rows 30000, created 29700, updated 0, rejected 300"), "\(out)")
        let lines = ((try? String(contentsOfFile: "\(dir)/errors.csv", encoding: .utf8)) ?? "").split(whereSeparator: \.isNewline)
        #expect(lines.count == 301 && Set(lines).count == 301, "a header and each rejected row once: \(lines.prefix(3))")
        // Every valid row's profile, once the profile applier got to them. Dedupe
        // claims Redis applied after the intake had timed out are taken back by the
        // intake's retry; before, they held the raw partition until they expired
        // (the message timeout and 10 s: 40 s).
        var contacts: Int64 = 0
        for _ in 0..<100 where contacts < 29_700 {
            if case .int(let c)? = try await get(ingestor, "/v1/contacts?count=true")["count"] { contacts = c }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(contacts == 29_700)
        #expect(try await get(ingestor, "/v1/contacts/o\(n - 1)")["email"] == .string("o\(n - 1)@example.com"))
        await ingestor.process.stop()
        await redis.stop()
    }

    @Test(
        "SIGSTOP of the ingestor mid-import past the stale bound: a retry takes the job over, the stopped run, continued, writes nothing more to it, and every row reaches herald.events once"
    )
    func stopAndTakeOver() async throws {
        let broker = try TestBroker.start(partitions: 4)
        let redis = try await TestRedisServer()
        let environment = ["HERALD_IMPORTS_STALE_AFTER": "1s"]
        let first = try await TestIngestor(broker: broker, redis: redis, extraEnvironment: environment)
        let n = 30_000
        var csv = "id,email\n"
        for i in 0..<n { csv += "s\(i),s\(i)@example.com\n" }
        func start(_ ingestor: TestIngestor) async throws -> Int {
            let request = HTTPRequest(
                method: "POST", url: "\(ingestor.apiURL)/v1/imports?id=stop-1", headers: [("Authorization", "Bearer \(TestIngestor.adminKey)")],
                body: Array(csv.utf8), timeout: .seconds(60))
            return try await client.send(many: [request])[0].result.get().status
        }
        #expect(try await start(first) == 202)
        let stoppedAt = try await signal(first, SIGSTOP, job: "stop-1")
        #expect(stoppedAt > 0 && stoppedAt < Int64(n), "stopped after \(stoppedAt) rows")
        let second = try await TestIngestor(broker: broker, redis: redis, extraEnvironment: environment)
        try await Task.sleep(for: .seconds(1.5))
        #expect(try await start(second) == 202)
        // The stopped run goes on while the second runs: its next record of progress is refused.
        first.process.signal(SIGCONT)
        let done = try await finished(second, job: "stop-1")
        #expect(done["state"] == "done" && done["rows"] == .int(Int64(n)) && done["committed"] == .int(Int64(n)), "\(done)")
        var taken = false
        for _ in 0..<100 where !taken {
            taken = first.log.contains("another run took it over")
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(taken, "\(first.log.suffix(1500))")
        let ids = try await contactUpdates(broker, atLeast: n)
        #expect(Set(ids).count == n && ids.count == n, "\(ids.count) events for \(Set(ids).count) contacts")
        #expect(try await get(second, "/v1/imports/stop-1")["state"] == "done", "the continued run did not overwrite the job")
        await first.process.stop()
        await second.process.stop()
        await redis.stop()
    }

    @Test(
        "an import fires list_subscribed only for a campaign that asks for imports, and makes no event no campaign reads; the same subscription through the API fires both; an import is no alert activity"
    )
    func importTriggers() async throws {
        let broker = try TestBroker.start(partitions: 2)
        let redis = try await TestRedisServer()
        let ingestor = try await TestIngestor(broker: broker, redis: redis)
        let scheduler = try await TestWorker(.scheduler, broker: broker, redis: redis)
        let alerter = try await TestWorker(.alerter, broker: broker, redis: redis)
        for (id, trigger) in [("with-imports", "{list: news, include_imports: true}"), ("without-imports", "news")] {
            let yaml =
                "id: \(id)\nlist: news\ntriggers:\n  - list_subscribed: \(trigger)\nsteps:\n  - id: hello\n    send: {channel: email, template: welcome, category: promo}\n"
            let r = try await client.send(
                method: "POST", url: "\(ingestor.apiURL)/v1/campaigns/\(id)/publish",
                headers: [("Authorization", "Bearer \(TestIngestor.adminKey)"), ("Content-Type", "application/yaml")], body: Array(yaml.utf8))
            #expect(r.status == 200, "\(r.bodyText)")
        }
        let post = try await client.send(
            method: "POST", url: "\(ingestor.apiURL)/v1/imports?id=trig-1&list=news", headers: [("Authorization", "Bearer \(TestIngestor.adminKey)")],
            body: Array("id,email,tags\nimported,i@example.com,vip\n".utf8))
        #expect(post.status == 202, "\(post.bodyText)")
        let api = try await client.send(
            method: "PUT", url: "\(ingestor.apiURL)/v1/contacts/by-api",
            headers: [("Authorization", "Bearer \(TestIngestor.adminKey)"), ("Content-Type", "application/json")], body: Array(#"{"lists":["news"]}"#.utf8))
        #expect(api.status == 200)
        @Sendable func entries(_ records: [KafkaRecord]) -> Set<String> {
            Set(records.compactMap { try? SendRequest(decoding: $0.value) }.map { "\($0.contactId)@\($0.campaignId)" })
        }
        let sends = try await readTopic(Topics.sends, bootstrapServers: broker.bootstrapServers, timeout: .seconds(20)) { entries($0).count >= 3 }
        try await Task.sleep(for: .seconds(2))
        let all = entries(try await readTopic(Topics.sends, bootstrapServers: broker.bootstrapServers, timeout: .seconds(5)) { $0.count >= sends.count })
        #expect(all == ["imported@with-imports", "by-api@with-imports", "by-api@without-imports"], "\(all)\n\(scheduler.log.suffix(2000))")
        // No campaign starts on tag_added: the import's tag is in its profile change, and no tag event is made.
        let events = try await readTopic(Topics.events, bootstrapServers: broker.bootstrapServers, timeout: .seconds(8)) { _ in false }
            .compactMap { try? Event(decoding: $0.value) }.filter { $0.contactId == "imported" }
        #expect(events.map(\.type).sorted() == ["contact_updated", "list_subscribed"], "\(events.map(\.type))")
        #expect(try await get(ingestor, "/v1/contacts/imported")["tags"] == ["vip"])
        // The alerter keeps the API's subscription as the contact's activity, and
        // nothing of the import (`properties.source: import`); it has read both by now.
        let alerts = AlertStore(redis: RedisPool(configuration: redis.configuration, logger: Logger(label: "test")), partitions: 2)
        var apiActivity: [JSONValue] = []
        let deadline = ContinuousClock.now + .seconds(10)
        while apiActivity.isEmpty && ContinuousClock.now < deadline {
            apiActivity = try await alerts.activity("by-api")
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(apiActivity.map { $0["type"] } == ["list_subscribed"], "\(apiActivity)")
        let imported = try await alerts.activity("imported")
        #expect(imported.isEmpty, "\(imported)\n\(alerter.log.suffix(2000))")
        await alerter.process.stop()
        await scheduler.process.stop()
        await ingestor.process.stop()
        await redis.stop()
    }
}

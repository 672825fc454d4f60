import ArgumentParser
import Foundation
import HeraldChannels
import HeraldCore
import HeraldDevTools
import HeraldRedis

/// `heraldctl contacts`: the address book through the ingestor's API (docs/contacts.md).
struct Contacts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The address book: list, show, count and export contacts (docs/contacts.md).",
        subcommands: [List.self, Show.self, Count.self, Export.self, Import.self, Template.self, Reindex.self])

    /// The selection every subcommand takes.
    struct Selection: ParsableArguments {
        @Option(help: "Only members of this list.") var list: String?
        @Option(help: "Only contacts with this tag.") var tag: String?
        @Option(help: "A condition in the campaign language, JSON or YAML: '{attribute: city, eq: Praha}'.") var `where`: String?
        @Option(help: "Only members of this saved segment.") var segment: String?

        var query: String {
            [("list", list), ("tag", tag), ("where", `where`), ("segment", segment)].compactMap { k, v in v.map { "\(k)=\(URLEncoding.percentEncoded($0))" } }
                .joined(separator: "&")
        }
    }

    /// GET `path` on the admin API; the body as JSON, or the API's error as a `CLIError`.
    static func get(_ options: AdminOptions, _ path: String) async throws -> JSONValue {
        // A page of profiles can be large (notes, attributes): up to 64 MiB, not the client's default 1 MiB.
        do { return try await follow(try options.endpoint(), path, timeout: .seconds(120), maxResponseBytes: 64 << 20) } catch let error
            as Unavailable
        {
            throw CLIError(error.description)
        }
    }

    /// The ingestor did not answer, or answered 5xx: worth asking again.
    struct Unavailable: Error, CustomStringConvertible {
        let description: String
    }

    /// GET `path`, for following a job: the body as JSON; a transport failure or
    /// a 5xx throws `Unavailable`, any other answer but 2xx a `CLIError`.
    static func follow(_ e: AdminEndpoint, _ path: String, timeout: Duration = .seconds(30), maxResponseBytes: Int = 1 << 20) async throws -> JSONValue {
        let request = HTTPRequest(
            method: "GET", url: "\(e.url)\(path)", headers: [("Authorization", "Bearer \(e.key)")], timeout: timeout, maxResponseBytes: maxResponseBytes)
        let r: HTTPClientResponse
        do { r = try await HTTPClient(concurrency: 1).send(many: [request])[0].result.get() } catch { throw Unavailable(description: "\(error)") }
        let body = (try? JSONValue.parse(r.body)) ?? .null
        let detail = "HTTP \(r.status): \(body["detail"]?.stringValue ?? r.bodyText)"
        if r.status >= 500 { throw Unavailable(description: detail) }
        guard (200..<300).contains(r.status) else { throw CLIError(detail) }
        return body
    }

    /// What CSV rows show of a profile as the API answers it (tags and lists as arrays).
    static func profile(fromAPI json: JSONValue) -> ContactProfile {
        var p = ContactProfile(id: json["id"]?.stringValue ?? "")
        p.email = json["email"]?.stringValue
        p.phone = json["phone"]?.stringValue
        p.timeZone = json["timezone"]?.stringValue
        p.language = json["language"]?.stringValue
        p.owner = json["owner"]?.stringValue
        p.lists = Set((json["lists"]?.arrayValue ?? []).compactMap(\.stringValue))
        p.tags = Set((json["tags"]?.arrayValue ?? []).compactMap(\.stringValue))
        p.attributes = json["attributes"]?.objectValue ?? [:]
        return p
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One page of contacts: id, email, phone, lists, tags; then the cursor of the next page.")
        @OptionGroup var selection: Selection
        @OptionGroup var options: AdminOptions
        @Option(help: "Contacts per page (1–1000).") var limit = 50
        @Option(help: "Go on from this cursor (printed after a page).") var cursor: String?

        func run() async throws {
            let page = try await Contacts.get(options, "/v1/contacts?limit=\(limit)&\(selection.query)" + (cursor.map { "&cursor=\($0)" } ?? ""))
            for c in page["contacts"]?.arrayValue ?? [] {
                let lists = (c["lists"]?.arrayValue ?? []).compactMap(\.stringValue).joined(separator: "|")
                let tags = (c["tags"]?.arrayValue ?? []).compactMap(\.stringValue).joined(separator: "|")
                print([c["id"]?.stringValue ?? "", c["email"]?.stringValue ?? "-", c["phone"]?.stringValue ?? "-", lists, tags].joined(separator: "\t"))
            }
            print(page["next_cursor"]?.stringValue.map { "next page: --cursor \($0)" } ?? "end of the list")
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A contact's profile, as JSON.")
        @OptionGroup var options: AdminOptions
        @Argument(help: "The contact id.") var id: String

        func run() async throws {
            print(String(decoding: try await Contacts.get(options, "/v1/contacts/\(URLEncoding.percentEncoded(id))").serialized(), as: UTF8.self))
        }
    }

    struct Count: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "How many contacts the selection holds.")
        @OptionGroup var selection: Selection
        @OptionGroup var options: AdminOptions

        func run() async throws {
            let n = try await Contacts.get(options, "/v1/contacts?count=true&\(selection.query)")["count"]
            print(n.map { String(decoding: $0.serialized(), as: UTF8.self) } ?? "?")
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The selection as CSV (the columns an import maps to), page by page in bounded memory.")
        @OptionGroup var selection: Selection
        @OptionGroup var options: AdminOptions
        @Option(help: "Attribute columns, comma-separated (default: those of the first page's contacts).") var attributes: String?
        @Option(name: .shortAndLong, help: "Write here instead of standard output.") var output: String?

        func run() async throws {
            let out: FileHandle
            if let output {
                guard FileManager.default.createFile(atPath: output, contents: nil) else { throw CLIError("cannot create \(output)") }
                out = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
            } else {
                out = FileHandle.standardOutput
            }
            // The throwing write: `FileHandle.write(_:)` traps when the disk is
            // full or the reader of a pipe went away.
            func write(_ bytes: [UInt8]) throws {
                do { try out.write(contentsOf: Data(bytes)) } catch { throw CLIError("cannot write \(output ?? "the output"): \(error.localizedDescription)") }
            }
            var csv = attributes.map { ContactCSV(attributes: $0.split(separator: ",").map(String.init)) }
            if let csv { try write(csv.header()) }
            var cursor: String? = nil
            var rows = 0
            repeat {
                let page = try await Contacts.get(options, "/v1/contacts?limit=500&\(selection.query)" + (cursor.map { "&cursor=\($0)" } ?? ""))
                let profiles = (page["contacts"]?.arrayValue ?? []).map(Contacts.profile(fromAPI:))
                var bytes: [UInt8] = []
                if csv == nil, !profiles.isEmpty {
                    csv = ContactCSV(attributes: ContactCSV.attributeNames(profiles))
                    bytes = csv!.header()
                }
                for p in profiles { csv?.append(p, to: &bytes) }
                try write(bytes)
                rows += profiles.count
                cursor = page["next_cursor"]?.stringValue
            } while cursor != nil
            if csv == nil { try write(ContactCSV(attributes: []).header()) }
            if output != nil {
                try out.close()
                print("\(rows) contact\(rows == 1 ? "" : "s") written to \(output!)")
            }
        }
    }

    struct Reindex: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Put every stored profile in the address book's index and the email and phone lookups (for profiles written before they existed).")
        @OptionGroup var redis: Limits.RedisOption
        @Option(help: "Partitions (shards) of the deployment: the lookups' slots depend on it.") var partitions = 24

        func run() async throws {
            let pool = try redis.pool()
            guard (1...10_000).contains(partitions) else { throw CLIError("--partitions must be 1 to 10000") }
            let n = try await AddressBook(contacts: ContactStore(redis: pool, partitions: partitions)).rebuildIndex()
            print("\(n) profile\(n == 1 ? "" : "s") indexed")
        }
    }

    struct Template: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A blank CSV with the address book's columns (what an import maps by default).")

        func run() async throws { FileHandle.standardOutput.write(Data(ContactCSV(attributes: []).header())) }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Import a CSV into the address book through the ingestor (POST /v1/imports), with a progress line.",
            discussion: """
                Without --map, each header names its field (id, email, phone, …, attributes.<name>): a template or an export.
                Running the same command again resumes an interrupted import, or reports a finished one: the job id comes
                from the file and the parameters.
                """)
        @OptionGroup var options: AdminOptions
        @Argument(help: "The CSV file (UTF-8 with or without BOM, or Windows-1250; comma, semicolon or tab).") var file: String
        @Option(help: "Column=target pairs: 'Telefon=phone,Jméno=attributes.first_name,ID=id'.") var map: String?
        @Option(help: "A list every imported contact joins (repeat for several).") var list: [String] = []
        @Option(help: "create_or_update, only_new or only_existing.") var mode = "create_or_update"
        @Option(help: "What rows find their contact by: id, email or phone.") var match = "id"
        @Option(help: "Country code of national phone numbers, e.g. +420.") var country: String?
        @Option(help: "utf-8, utf-16 or windows-1250 (default: detected).") var encoding: String?
        @Option(help: "',', ';' or tab (default: detected).") var delimiter: String?
        @Flag(help: "Show the header, the first rows as mapped, column types and the first errors; change nothing.") var dryRun = false
        @Option(help: "Write the rejected rows (line, column, reason) to this CSV.") var errors: String?
        @Option(
            help: ArgumentHelp(
                "Seconds without a heartbeat from the import before it is uploaded again to resume it (its ingestor died or restarted).",
                valueName: "seconds"))
        var resumeAfter = 60

        func run() async throws {
            // One pass over the file, a megabyte at a time: its hash (for the job's
            // id) and its line count (for the ETA). The upload then streams it too,
            // so a file of any size costs the CLI a buffer, not its size.
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory) else { throw CLIError("cannot read \(file): no such file") }
            guard !isDirectory.boolValue else { throw CLIError("cannot read \(file): it is a directory; name a CSV file") }
            guard let handle = FileHandle(forReadingAtPath: file) else { throw CLIError("cannot read \(file)") }
            var hash = Hashing.SHA256Stream()
            var lines = 0
            do {
                while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
                    hash.update(chunk)
                    lines += chunk.reduce(0) { $1 == 0x0A ? $0 + 1 : $0 }
                }
            } catch {
                throw CLIError("cannot read \(file): \(error.localizedDescription)")
            }
            try? handle.close()
            var query: [(String, String)] = [("mode", mode)]
            if match != "id" { query.append(("match", match)) }
            if let map { query.append(("map", map)) }
            for l in list { query.append(("list", l)) }
            if let country { query.append(("country", country)) }
            if let encoding { query.append(("encoding", encoding)) }
            if let delimiter { query.append(("delimiter", delimiter)) }
            // The same file with the same parameters is the same job: a rerun resumes or reports it.
            hash.update(Array(query.map { "\($0.0)=\($0.1)" }.joined(separator: "&").utf8))
            let id = "f-" + Hashing.hex(hash.finalize().prefix(12))
            query.append(dryRun ? ("dry_run", "true") : ("id", id))
            let e = try options.endpoint()
            let url = "\(e.url)/v1/imports?" + query.map { "\($0.0)=\(URLEncoding.percentEncoded($0.1))" }.joined(separator: "&")
            guard resumeAfter > 0 else { throw CLIError("--resume-after must be a positive number of seconds") }
            var request = HTTPRequest(
                method: "POST", url: url, headers: [("Authorization", "Bearer \(e.key)"), ("Content-Type", "text/csv")], timeout: .seconds(600),
                maxResponseBytes: 16 << 20)
            request.bodyFile = file
            func upload() async throws -> (status: Int, answer: JSONValue, text: String) {
                let r = try await HTTPClient(concurrency: 1).send(many: [request])[0].result.get()
                return (r.status, (try? JSONValue.parse(r.body)) ?? .null, r.bodyText)
            }
            let (status, answer, text) = try await upload()
            guard (200..<300).contains(status) else { throw CLIError("HTTP \(status): \(answer["detail"]?.stringValue ?? text)") }
            if dryRun {
                print(String(decoding: answer.serialized(), as: UTF8.self))
                return
            }
            // Progress: rows a second, and an ETA from the file's line count.
            let total = max(1, lines - 1)
            let started = ContinuousClock.now
            var job = answer
            // Since when the ingestor has not answered (it restarts, or waits out
            // a Redis outage with the import): the import goes on meanwhile, so
            // following it does too, for up to five minutes.
            var silentSince: ContinuousClock.Instant?
            // The job's heartbeat, and since when it has not changed: a running
            // import beats every few seconds, so one that stopped beating lost
            // its process (the spooled file with it). The same upload again
            // resumes it from its committed rows, once the ingestor counts it
            // abandoned (`imports.stale_after`; until then it answers 409).
            var beat: JSONValue? = nil
            var beatSince = ContinuousClock.now
            var resumes = 0
            while job["state"]?.stringValue == "running" {
                try await Task.sleep(for: .milliseconds(500))
                do {
                    job = try await Contacts.follow(e, "/v1/imports/\(id)")
                    silentSince = nil
                    if job["heartbeat_ms"] != beat {
                        (beat, beatSince) = (job["heartbeat_ms"], ContinuousClock.now)
                    } else if job["state"]?.stringValue == "running", ContinuousClock.now - beatSince > .seconds(resumeAfter) {
                        guard resumes < 10 else {
                            throw CLIError("import \(id) stopped again after 10 resumes; run the same command again to resume it once more")
                        }
                        FileHandle.standardError.write(Data("\r(import \(id): no heartbeat for \(resumeAfter) s; uploading it again to resume it)\n".utf8))
                        beatSince = ContinuousClock.now
                        // 409: not yet abandoned for the ingestor; 5xx or no answer: it is
                        // not ready. Either way, tried again after another wait.
                        if let (status, answer, text) = try? await upload() {
                            if (200..<300).contains(status) {
                                resumes += 1
                                job = answer
                            } else if status != 409 && status < 500 {
                                throw CLIError("resuming import \(id): HTTP \(status): \(answer["detail"]?.stringValue ?? text)")
                            }
                        }
                    }
                } catch let error as Contacts.Unavailable {
                    let since = silentSince ?? ContinuousClock.now
                    silentSince = since
                    guard ContinuousClock.now - since < .seconds(300) else {
                        throw CLIError("no answer about import \(id) for 5 minutes (\(error)); run the same command again: it resumes the import or reports it")
                    }
                    FileHandle.standardError.write(Data("\r(waiting for the ingestor: \(error))   ".utf8))
                    continue
                }
                let rows = Int(job["rows"].flatMap { if case .int(let n) = $0 { n } else { nil } } ?? Int64(0))
                let seconds = Double((ContinuousClock.now - started).components.seconds) + 0.001
                let rate = Double(rows) / seconds
                let eta = rate > 0 ? Int(Double(max(0, total - rows)) / rate) : 0
                FileHandle.standardError.write(Data("\r\(rows)/~\(total) rows  \(Int(rate)) rows/s  ETA \(eta) s   ".utf8))
            }
            FileHandle.standardError.write(Data("\n".utf8))
            func n(_ k: String) -> String { job[k].map { String(decoding: $0.serialized(), as: UTF8.self) } ?? "0" }
            print(
                "import \(id): \(job["state"]?.stringValue ?? "?") — rows \(n("rows")), created \(n("created")), updated \(n("updated")), rejected \(n("rejected")), skipped \(n("skipped"))"
            )
            if let errors, let e2 = try? options.endpoint() {
                let list = try await HTTPClient(concurrency: 1).send(
                    many: [
                        HTTPRequest(
                            method: "GET", url: "\(e2.url)/v1/imports/\(id)/errors.csv", headers: [("Authorization", "Bearer \(e2.key)")],
                            maxResponseBytes: 64 << 20)
                    ])[0].result.get()
                guard FileManager.default.createFile(atPath: errors, contents: Data(list.body)) else { throw CLIError("cannot write \(errors)") }
                print("rejected rows written to \(errors)")
            }
            if job["state"]?.stringValue != "done" { throw CLIError("the import did not finish: \(job["error"]?.stringValue ?? "")") }
        }
    }
}

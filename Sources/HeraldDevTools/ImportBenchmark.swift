import Foundation
import HeraldChannels
import HeraldCore
import HeraldRedis
import Logging

/// `heraldctl bench import` and `heraldctl bench segments`: a generated CSV
/// imported end to end through a running stack (until every valid profile is
/// in its list), then a segment counted over the imported contacts.
public struct ImportBenchmark: Sendable {
    /// `--rows` (its `--help` says what it does).
    public var rows: Int
    /// `--invalid-percent` (its `--help` says what it does).
    public var invalidPercent: Int
    /// `--api`, `--admin-key` (their `--help` says what they do).
    public var api: String?, adminKey: String?
    /// `--ingestor-pid` (its `--help` says what it does).
    public var ingestorPid: Int32?
    /// `--segment-only` (its `--help` says what it does).
    public var segmentOnly: Bool
    /// `--partitions` (its `--help` says what it does).
    public var partitions: Int = 24

    /// Options as `heraldctl` parsed them.
    public init(rows: Int, invalidPercent: Int, api: String?, adminKey: String?, ingestorPid: Int32?, segmentOnly: Bool) {
        self.rows = rows
        self.invalidPercent = invalidPercent
        self.api = api
        self.adminKey = adminKey
        self.ingestorPid = ingestorPid
        self.segmentOnly = segmentOnly
    }

    /// The generated file: 8 columns; every `100 / invalidPercent`-th row has a bad phone.
    static func csv(rows: Int, invalidPercent: Int, run: String) -> (bytes: [UInt8], valid: Int) {
        var out = Array("ID,E-mail,Telefon,Jméno,Město,Věk,Štítky,Souhlas\n".utf8)
        out.reserveCapacity(rows * 90)
        let every = invalidPercent > 0 ? max(1, 100 / invalidPercent) : Int.max
        let cities = ["Praha", "Brno", "Ostrava", "Plzeň", "Olomouc"]
        var valid = 0
        for i in 0..<rows {
            let bad = i % every == every - 1
            if !bad { valid += 1 }
            let phone = bad ? "12" : "+4207\(String(format: "%08d", i % 100_000_000))"
            let tags = i % 10 == 0 ? "vip|news" : "news"
            out += Array("\(run)-\(i),c\(i)@example.com,\(phone),Jméno \(i),\(cities[i % 5]),\(18 + i % 60),\(tags),\(i % 2 == 0 ? "ano" : "ne")\n".utf8)
        }
        return (out, valid)
    }

    /// Runs the bench and prints its figures.
    public func run() async throws {
        let endpoint = try AdminEndpoint.resolve(url: api, key: adminKey)
        let client = HTTPClient(concurrency: 2)
        let auth = [("Authorization", "Bearer \(endpoint.key)")]
        print("machine: \(ProcessInfo.processInfo.activeProcessorCount) cores, \(ProcessInfo.processInfo.physicalMemory / (1 << 30)) GiB")
        let redis = devRedisPort().map { RedisPool(configuration: RedisConfiguration(port: $0), logger: Logger(label: "bench")) }
        if !segmentOnly {
            let run = "bi" + UUID().uuidString.prefix(6).lowercased()
            let (bytes, valid) = Self.csv(rows: rows, invalidPercent: invalidPercent, run: run)
            let memoryBefore: Int? = if let redis { try await Self.usedMemory(redis) } else { nil }
            let list = "bench-\(run)"
            let map =
                "ID=id,E-mail=email,Telefon=phone,Jméno=attributes.first_name,Město=attributes.city,Věk=attributes.age:int,Štítky=tags,Souhlas=attributes.consent:bool"
            let url = "\(endpoint.url)/v1/imports?id=\(run)&list=\(list)&map=\(URLEncoding.percentEncoded(map))"
            print("import: \(rows) rows (\(rows - valid) invalid), \(bytes.count / 1024) KiB")
            let start = ContinuousClock.now
            let posted = try await client.send(many: [
                HTTPRequest(method: "POST", url: url, headers: auth, body: bytes, timeout: .seconds(600), maxResponseBytes: 1 << 20)
            ])[0]
            .result.get()
            guard posted.status == 202 else { throw CLIError("POST /v1/imports: HTTP \(posted.status) \(posted.bodyText)") }
            let uploaded = ContinuousClock.now - start
            // Done when the job is and every valid row's contact is in the list (its profile is written).
            var members = 0
            var job: JSONValue = .null
            while true {
                job = (try? JSONValue.parse(try await client.get("\(endpoint.url)/v1/imports/\(run)", headers: auth).body)) ?? .null
                if job["state"] == "failed" { throw CLIError("the import failed: \(job)") }
                guard let redis else { throw CLIError("no Redis port: start `heraldctl dev` (the bench reads the list's members)") }
                members = try await Self.listMembers(redis, list: list, partitions: partitions)
                if job["state"] == "done" && members >= valid { break }
                try await Task.sleep(for: .seconds(1))
            }
            let elapsed = Double((ContinuousClock.now - start).milliseconds) / 1000
            print(
                String(
                    format: "import: %d valid rows readable in %.1f s = %.0f rows/s end to end (upload %.1f s); job %@", valid, elapsed,
                    Double(valid) / elapsed, Double(uploaded.milliseconds) / 1000, String(decoding: job.serialized(), as: UTF8.self)))
            if let pid = ingestorPid, let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) {
                let peak = status.split(separator: "\n").first { $0.hasPrefix("VmHWM") } ?? "VmHWM: ?"
                print("ingestor peak RSS (since it started): \(peak.split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "?")")
            }
            if let redis, let before = memoryBefore {
                let after = try await Self.usedMemory(redis)
                print(String(format: "redis: %.0f bytes per imported contact (used_memory %d → %d)", Double(after - before) / Double(valid), before, after))
            }
        }
        // bench segments: a segment of attributes, tags and a purchase window over the whole address book.
        let segment =
            #"{"id":"bench-segment","where":{"all":[{"attribute":"city","eq":"Praha"},{"tag":"vip"},{"not":{"purchases":{"within":"30d","count":{"gt":0}}}}]}}"#
        _ = try await client.send(method: "DELETE", url: "\(endpoint.url)/v1/segments/bench-segment", headers: auth)
        _ = try await client.send(
            method: "POST", url: "\(endpoint.url)/v1/segments", headers: auth + [("Content-Type", "application/json")], body: Array(segment.utf8))
        let total = (try? JSONValue.parse(try await client.get("\(endpoint.url)/v1/contacts?count=true", headers: auth).body))?["count"]
        let t0 = ContinuousClock.now
        let counted = try await client.send(many: [
            HTTPRequest(method: "GET", url: "\(endpoint.url)/v1/segments/bench-segment/count", headers: auth, timeout: .seconds(600))
        ])[0].result.get()
        let seconds = Double((ContinuousClock.now - t0).milliseconds) / 1000
        print(
            String(
                format: "segments: counted %@ of %@ contacts in %.2f s (city, tag and a purchase window)",
                counted.bodyText.trimmingCharacters(in: .whitespacesAndNewlines), total.map { String(decoding: $0.serialized(), as: UTF8.self) } ?? "?", seconds
            ))
    }

    static func usedMemory(_ redis: RedisPool) async throws -> Int {
        let info = try await redis.execute(["INFO", "memory"]).string ?? ""
        return info.split(separator: "\r\n").first { $0.hasPrefix("used_memory:") }.flatMap { Int($0.dropFirst("used_memory:".count)) } ?? 0
    }

    /// Members of `list`: one `SCARD` per shard's index. (A first version found
    /// the keys with `SCAN` on every poll, and that scan of the whole keyspace
    /// five times a second took half of Redis's CPU from the import it measured.)
    static func listMembers(_ redis: RedisPool, list: String, partitions: Int) async throws -> Int {
        try await redis.pipeline((0..<partitions).map { ["SCARD", "herald:idx:list:\(Shard.hashTag($0)):\(list)"] }).reduce(0) { $0 + Int($1.int ?? 0) }
    }
}

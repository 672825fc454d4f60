import ArgumentParser
import Foundation
import HeraldChannels
import HeraldCore

/// `heraldctl broadcasts …`: one-shot campaigns over the address book (docs/broadcasts.md).
struct Broadcasts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Broadcasts: create, start, pause, resume, cancel, watch and list recipients (docs/broadcasts.md).",
        subcommands: [Create.self, Show.self, Action.self, Add.self, Recipients.self, Watch.self])

    /// Who a broadcast goes to, as options.
    struct Audience: ParsableArguments {
        @Option(help: "Members of this saved segment.") var segment: String?
        @Option(help: "Members of this list.") var list: String?
        @Option(help: "Contacts with this tag.") var tag: String?
        @Option(help: "A condition in the campaign language, YAML or JSON.") var `where`: String?

        var json: JSONValue {
            if let segment { return ["segment": .string(segment)] }
            var o: [String: JSONValue] = [:]
            if let list { o["list"] = .string(list) }
            if let tag { o["tag"] = .string(tag) }
            if let w = `where` { o["where"] = .string(w) }
            return .object(o)
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a draft broadcast; its audience's members are added as recipients (state initial) at once.")
        @OptionGroup var options: AdminOptions
        @Argument(help: "The broadcast id (a-z, 0-9, '_', '-').") var id: String
        @Option(help: "email, sms or whatsapp.") var channel: String
        @Option(help: "The template's name.") var template: String
        @Option(help: "The WhatsApp number to send from (an account name; default: the default number).") var account: String?
        @Option(help: "marketing (default) or utility.") var category: String?
        @Option(help: "The name people see (default: the id).") var name: String?
        @Option(help: "A note for the team.") var note: String?
        @Option(help: "Start by itself at this RFC 3339 time once started (default: at once).") var startAt: String?
        @OptionGroup var audience: Audience

        func run() async throws {
            var body: [String: JSONValue] = [
                "id": .string(id), "channel": .string(channel), "template": .string(template), "audience": audience.json,
            ]
            for (k, v) in [("account", account), ("category", category), ("name", name), ("note", note), ("start_at", startAt)] {
                if let v { body[k] = .string(v) }
            }
            try await options.call(
                "POST", "/v1/broadcasts", body: String(decoding: JSONValue.object(body).serialized(), as: UTF8.self), contentType: "application/json")
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every broadcast, or one with its counts per recipient state.")
        @OptionGroup var options: AdminOptions
        @Argument(help: "A broadcast id (default: every broadcast).") var id: String?

        func run() async throws {
            if let id {
                try await options.call("GET", "/v1/broadcasts/\(URLEncoding.percentEncoded(id))")
            } else {
                try await options.listAll("/v1/broadcasts", "broadcasts")
            }
        }
    }

    struct Action: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "do",
            abstract:
                "start, pause, resume, cancel or retry-failed a broadcast (cancel: recipients not yet sent to end cancelled; retry-failed: those that ended error or sending_failed are sent again, except an outcome unknown)."
        )
        @OptionGroup var options: AdminOptions
        @Argument(help: "start, pause, resume, cancel or retry-failed.") var action: String
        @Argument(help: "The broadcast id.") var id: String

        func run() async throws {
            guard let a = BroadcastState.Action(rawValue: action) else {
                throw ValidationError("the action must be start, pause, resume, cancel or retry-failed")
            }
            try await options.call("POST", "/v1/broadcasts/\(URLEncoding.percentEncoded(id))/\(a.rawValue)")
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add more recipients (a recipient already in the broadcast is not added twice).")
        @OptionGroup var options: AdminOptions
        @Argument(help: "The broadcast id.") var id: String
        @OptionGroup var audience: Audience

        func run() async throws {
            let body: JSONValue = ["audience": audience.json]
            try await options.call(
                "POST", "/v1/broadcasts/\(URLEncoding.percentEncoded(id))/recipients", body: String(decoding: body.serialized(), as: UTF8.self),
                contentType: "application/json")
        }
    }

    struct Recipients: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every recipient with its state, as CSV (all pages).")
        @OptionGroup var options: AdminOptions
        @Argument(help: "The broadcast id.") var id: String
        @Option(help: "Only recipients in this state (initial, in_progress, retry_scheduled, sent, …).") var state: String?

        func run() async throws {
            var header: [UInt8] = []
            ContactCSV.line(["contact_id", "send_id", "state", "reason", "next_attempt", "updated"], to: &header)
            FileHandle.standardOutput.write(Data(header))
            var cursor: String?
            repeat {
                var path = "/v1/broadcasts/\(URLEncoding.percentEncoded(id))/recipients?limit=1000"
                if let state { path += "&state=\(URLEncoding.percentEncoded(state))" }
                if let cursor { path += "&cursor=\(cursor)" }
                let page = try await Contacts.get(options, path)
                for r in page["recipients"]?.arrayValue ?? [] {
                    func time(_ k: String) -> String { if case .int(let ms)? = r[k] { RFC3339.format(milliseconds: ms) } else { "" } }
                    let cells = [
                        r["contact_id"]?.stringValue ?? "", r["send_id"]?.stringValue ?? "", r["state"]?.stringValue ?? "", r["reason"]?.stringValue ?? "",
                        time("next_ms"), time("updated_ms"),
                    ]
                    var line: [UInt8] = []
                    ContactCSV.line(cells, to: &line)
                    FileHandle.standardOutput.write(Data(line))
                }
                cursor = page["next_cursor"]?.stringValue
            } while cursor != nil
        }
    }

    struct Watch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A progress line (done of total, messages a second, ETA) until the broadcast ends.")
        @OptionGroup var options: AdminOptions
        @Argument(help: "The broadcast id.") var id: String

        func run() async throws {
            let path = "/v1/broadcasts/\(URLEncoding.percentEncoded(id))"
            let started = ContinuousClock.now
            var first: Int?
            var b = try await Contacts.get(options, path)
            while true {
                let (done, total) = Self.progress(b)
                first = first ?? done
                let seconds = Double((ContinuousClock.now - started).components.seconds) + 0.001
                let rate = Double(done - (first ?? 0)) / seconds
                let eta = rate > 0 ? "\(Int(Double(total - done) / rate)) s" : "—"
                let state = b["state"]?.stringValue ?? "?"
                FileHandle.standardError.write(Data("\r\(state)  \(done)/\(total) done  \(Int(rate))/s  ETA \(eta)    ".utf8))
                if state == "finished" || state == "cancelled" || (state != "running" && seconds > 2) { break }
                try await Task.sleep(for: .seconds(1))
                b = try await Contacts.get(options, path)
            }
            FileHandle.standardError.write(Data("\n".utf8))
            print(String(decoding: (b["counts"] ?? .object([:])).serialized(), as: UTF8.self))
        }

        static func progress(_ b: JSONValue) -> (done: Int, total: Int) {
            func n(_ v: JSONValue?) -> Int { if case .int(let x)? = v { Int(x) } else { 0 } }
            return (n(b["progress"]?["done"]), n(b["progress"]?["total"]))
        }
    }
}

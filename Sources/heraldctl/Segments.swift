import ArgumentParser
import Foundation
import HeraldCore

/// `heraldctl segments`: saved filters through the ingestor's API (docs/contacts.md, "Segments").
struct Segments: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Segments: save, show, count and delete saved filters (docs/contacts.md).",
        subcommands: [Save.self, Show.self, Count.self, Delete.self])

    struct Save: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create or replace a segment.")
        @OptionGroup var options: AdminOptions
        @Argument(help: "The segment id.") var id: String
        @Option(help: "A condition in the campaign language, YAML or JSON: '{all: [{tag: vip}, {attribute: city, eq: Praha}]}'.") var `where`: String
        @Option(help: "The name people see (default: the id).") var name: String?

        func run() async throws {
            var body: [String: JSONValue] = ["where": .string(`where`)]
            if let name { body["name"] = .string(name) }
            try await options.call(
                "PUT", "/v1/segments/\(URLEncoding.percentEncoded(id))", body: String(decoding: JSONValue.object(body).serialized(), as: UTF8.self),
                contentType: "application/json")
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every segment, or one.")
        @OptionGroup var options: AdminOptions
        @Argument(help: "A segment id (default: every segment).") var id: String?

        func run() async throws {
            if let id {
                try await options.call("GET", "/v1/segments/\(URLEncoding.percentEncoded(id))")
            } else {
                try await options.listAll("/v1/segments", "segments")
            }
        }
    }

    struct Count: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "How many contacts a segment holds now.")
        @OptionGroup var options: AdminOptions
        @Argument(help: "The segment id.") var id: String

        func run() async throws { try await options.call("GET", "/v1/segments/\(URLEncoding.percentEncoded(id))/count") }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a segment (its contacts stay).")
        @OptionGroup var options: AdminOptions
        @Argument(help: "The segment id.") var id: String

        func run() async throws { try await options.call("DELETE", "/v1/segments/\(URLEncoding.percentEncoded(id))") }
    }
}

import ArgumentParser
import Foundation
import HeraldCore

/// `heraldctl lists`: the address book's lists through the ingestor's API (docs/contacts.md).
struct Lists: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Lists: create, show with member counts, rename, delete (docs/contacts.md).",
        subcommands: [Create.self, Show.self, Rename.self, Delete.self])

    static func body(_ fields: [String: String]) -> String { String(decoding: JSONValue.object(fields.mapValues { .string($0) }).serialized(), as: UTF8.self) }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register a list.")
        @OptionGroup var options: AdminOptions
        @Argument(help: "The list id profiles, events and campaigns use.") var id: String
        @Option(help: "The name people see (default: the id).") var name: String?

        func run() async throws {
            try await options.call(
                "POST", "/v1/lists", body: Lists.body(["id": id].merging(name.map { ["name": $0] } ?? [:]) { a, _ in a }), contentType: "application/json")
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every list with its member count, or one list.")
        @OptionGroup var options: AdminOptions
        @Argument(help: "A list id (default: every list).") var id: String?

        func run() async throws {
            if let id { try await options.call("GET", "/v1/lists/\(URLEncoding.percentEncoded(id))") } else { try await options.listAll("/v1/lists", "lists") }
        }
    }

    struct Rename: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a list's name (its id stays).")
        @OptionGroup var options: AdminOptions
        @Argument(help: "The list id.") var id: String
        @Argument(help: "The new name.") var name: String

        func run() async throws {
            try await options.call("PATCH", "/v1/lists/\(URLEncoding.percentEncoded(id))", body: Lists.body(["name": name]), contentType: "application/json")
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a list and take every member off it (no unsubscribe events).")
        @OptionGroup var options: AdminOptions
        @Argument(help: "The list id.") var id: String

        func run() async throws { try await options.call("DELETE", "/v1/lists/\(URLEncoding.percentEncoded(id))") }
    }
}

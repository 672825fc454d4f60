import ArgumentParser
import Foundation
import HeraldCore

/// `heraldctl campaigns`: campaign files.
struct Campaigns: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Work with campaign files (docs/campaigns.md).", subcommands: [Validate.self])

    /// `heraldctl campaigns validate FILE...`
    struct Validate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check campaign files; print file:line: reason for each invalid one.")

        @Argument(help: "Campaign YAML files.") var files: [String]

        func run() async throws {
            var failed = 0
            for file in files {
                guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                    print("\(file): cannot read the file")
                    failed += 1
                    continue
                }
                do {
                    let c = try CampaignParser.parse(text, file: file)
                    print("\(file): ok — campaign '\(c.id)', \(c.triggers.count) trigger(s), \(c.steps.count) step(s)")
                } catch {
                    print(error.description)
                    failed += 1
                }
            }
            if failed > 0 { throw ExitCode(1) }
        }
    }
}

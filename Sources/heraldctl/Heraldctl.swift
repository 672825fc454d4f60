import ArgumentParser

/// heraldctl: the operators' CLI.
@main
struct Heraldctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "heraldctl",
        abstract: "Operate Herald: the dev stack, the embedded broker, topics and benchmarks.",
        subcommands: [
            Dev.self, Broker.self, Tail.self, Produce.self, Bench.self, Campaigns.self, Alerts.self, Sandbox.self, Limits.self, Templates.self, DLQ.self,
            Contacts.self, Lists.self, Segments.self, Broadcasts.self,
        ])
}

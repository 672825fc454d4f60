import Foundation
import HeraldCore
import Logging
import ServiceLifecycle

/// The flags every worker executable takes: `--config PATH` and `--set key=value`.
public struct CommandLineOptions: Sendable {
    /// `--config PATH` (nil: `HERALD_CONFIG` or `config/herald.yaml`).
    public var configFile: String?
    /// Each `--set key=value`, in order.
    public var overrides: [String] = []
    /// `--help`: print the usage and every configuration key, then exit 0.
    public var showHelp = false
    /// `--version`: print the version, then exit 0.
    public var showVersion = false

    /// Parses the arguments (without the program name).
    /// - Throws: `ConfigurationError` for an unknown flag or a missing value.
    public static func parse(_ arguments: [String]) throws -> CommandLineOptions {
        var options = CommandLineOptions()
        var i = 0
        while i < arguments.count {
            let arg = arguments[i]
            func value() throws -> String {
                if let eq = arg.firstIndex(of: "=") { return String(arg[arg.index(after: eq)...]) }
                i += 1
                guard i < arguments.count else { throw ConfigurationError("\(arg) needs a value") }
                return arguments[i]
            }
            switch arg.split(separator: "=", maxSplits: 1).first.map(String.init) ?? arg {
            case "--config": options.configFile = try value()
            case "--set": options.overrides.append(arg.hasPrefix("--set=") ? String(arg.dropFirst(6)) : try value())
            case "--help", "-h": options.showHelp = true
            case "--version": options.showVersion = true
            default: throw ConfigurationError("unknown argument '\(arg)' (expected --config FILE or --set key=value)")
            }
            i += 1
        }
        return options
    }

    /// What `--help` prints for `executable`: the flags, then every key with its
    /// default, environment variable and meaning (a secret's default is never shown: it has none).
    public static func help(_ executable: String) -> String {
        var out = """
            usage: \(executable) [--config FILE] [--set key=value]... | --help | --version

            Configuration: FILE (or HERALD_CONFIG, else config/herald.yaml), then HERALD_* variables,
            then --set; each wins over the one before. A secret can also come from a file:
            <key>_file, or HERALD_<KEY>_FILE. Every key (docs/configuration.md):

            """
        for key in Configuration.keys {
            out += "  \(key.name) = \(key.defaultValue.isEmpty ? "\"\"" : key.defaultValue)  [\(key.environmentName)]\(key.isSecret ? " (secret)" : "")\n"
            out += "      \(key.help)\n"
        }
        return out
    }

    /// Loads configuration for a worker from these options and the process environment.
    public func load() throws -> Configuration {
        try Configuration.load(file: configFile, environment: ProcessInfo.processInfo.environment, overrides: overrides)
    }
}

/// Entry point shared by the worker executables: parse flags, load configuration,
/// bootstrap logging, build and run. Exits 2 with a clear message on bad configuration.
public func runWorker(_ worker: Worker, build: @escaping @Sendable (WorkerRuntime) async throws -> [any Service]) async {
    let configuration: Configuration
    let settings: Settings
    do {
        let options = try CommandLineOptions.parse(Array(CommandLine.arguments.dropFirst()))
        if options.showHelp {
            print(CommandLineOptions.help(worker.executable), terminator: "")
            exit(0)
        }
        if options.showVersion {
            print("\(worker.executable) \(HeraldVersion.current)")
            exit(0)
        }
        configuration = try options.load()
        settings = try configuration.settings()
    } catch {
        FileHandle.standardError.write(Data("\(worker.executable): \(error)\n".utf8))
        exit(2)
    }
    HeraldLogging.bootstrap(level: settings.logLevel, format: settings.logFormat)
    let logger = Logger(label: worker.executable)
    do {
        let runtime = try WorkerRuntime(worker: worker, settings: settings, logger: logger)
        try await runtime.ensureTopics()
        try await runtime.requireDurableRedis()
        let services = try await build(runtime)
        try await runtime.run(services: services)
    } catch {
        logger.critical("\(worker.executable) failed: \(error)")
        exit(1)
    }
}

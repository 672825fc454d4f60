import Foundation
import HeraldCore

/// One configuration key: its dotted name, default and meaning (declared in
/// `ConfigurationKeys`; docs/configuration.md lists them all).
public struct ConfigurationKey: Sendable {
    /// The dotted name, `kafka.partitions`.
    public let name: String
    /// The default, as text.
    public let defaultValue: String
    /// What the key means (docs/configuration.md shows it).
    public let help: String
    /// A secret's value is never shown: errors name its key and source only.
    public let isSecret: Bool
    /// A file or directory: a relative value is resolved at load
    /// (`Configuration.resolvePaths`), so a worker finds its templates
    /// whatever its working directory.
    public internal(set) var isPath: Bool = false

    /// The environment variable that overrides it: `kafka.bootstrap_servers` → `HERALD_KAFKA_BOOTSTRAP_SERVERS`.
    public var environmentName: String {
        "HERALD_" + name.uppercased().replacingOccurrences(of: ".", with: "_")
    }
}

/// Why configuration could not be loaded: names the key (or file) and the bad value.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    /// What is wrong: the key, its value (unless secret), where it came from and what was expected.
    public let message: String
    /// The message.
    public var description: String { message }
    init(_ message: String) { self.message = message }
}

/// Herald's configuration: `config/herald.yaml`, overridden by `HERALD_*`
/// environment variables, overridden by `--set key=value` flags.
///
/// Unknown keys are errors (a typo must not silently fall back to a default).
public struct Configuration: Sendable {
    /// Every key, from its one declaration in `ConfigurationKeys`.
    public static let keys: [ConfigurationKey] = ConfigurationKeys.shared.all

    private static let keyNames = Set(keys.map(\.name))

    /// Resolved values by key.
    public private(set) var values: [String: String]
    /// Where each value came from ("default", a file path, an environment variable, "--set").
    public private(set) var sources: [String: String]

    /// Loads configuration.
    ///
    /// - Parameters:
    ///   - file: a YAML file; nil means `HERALD_CONFIG`, else `config/herald.yaml` if it
    ///     exists; "" means no file (defaults, environment and overrides only).
    ///   - environment: usually `ProcessInfo.processInfo.environment`.
    ///   - overrides: `key=value` pairs from `--set`.
    /// - Throws: `ConfigurationError` naming the file, key or value at fault.
    public static func load(file: String?, environment: [String: String], overrides: [String]) throws -> Configuration {
        var config = Configuration(values: [:], sources: [:])
        for key in keys {
            config.values[key.name] = key.defaultValue
            config.sources[key.name] = "default"
        }
        let path = file ?? environment["HERALD_CONFIG"] ?? (FileManager.default.fileExists(atPath: "config/herald.yaml") ? "config/herald.yaml" : nil)
        if let path, !path.isEmpty {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ConfigurationError("cannot read configuration file '\(path)'")
            }
            // Herald's one YAML reader (`YAMLValue`): Yams' own `load` traps on a
            // base-60 integer past `Int` (docs/fuzzing.md).
            let parsed: JSONValue?
            do { parsed = try YAMLValue.document(text) } catch { throw ConfigurationError("\(path) is \(error.reason)") }
            if let parsed, parsed != .null {
                guard let root = parsed.objectValue else { throw ConfigurationError("\(path): the top level must be a mapping") }
                for (key, value) in flatten(root, prefix: "") {
                    try config.set(key, value, source: path)
                }
            }
        }
        for key in keys {
            if let value = environment[key.environmentName] { try config.set(key.name, value, source: key.environmentName) }
            let fileVariable = key.environmentName + fileSuffix.uppercased()
            if key.isSecret, let path = environment[fileVariable] {
                guard environment[key.environmentName] == nil else {
                    throw ConfigurationError("\(key.environmentName) and \(fileVariable) are both set; set one")
                }
                try config.set(key.name + fileSuffix, path, source: fileVariable)
            }
        }
        for pair in overrides {
            guard let eq = pair.firstIndex(of: "=") else {
                throw ConfigurationError("--set '\(pair)': expected key=value")
            }
            try config.set(String(pair[..<eq]), String(pair[pair.index(after: eq)...]), source: "--set")
        }
        config.resolvePaths(file: path.flatMap { $0.isEmpty ? nil : $0 }, workingDirectory: FileManager.default.currentDirectoryPath)
        _ = try config.settings()  // every value checked at start-up, not at first use
        return config
    }

    /// Makes every relative path absolute. A value from the configuration
    /// file, and a default, are relative to the file's directory (the shipped
    /// layout: `herald.yaml` beside `templates/`, `alerts/` and `accounts/`,
    /// wherever the image or a ConfigMap puts them); one from the environment
    /// or `--set`, and a default when no file is used, to the working
    /// directory, as a shell would read it.
    mutating func resolvePaths(file: String?, workingDirectory: String) {
        let cwd = URL(fileURLWithPath: workingDirectory, isDirectory: true)
        let fileDirectory = file.map { URL(fileURLWithPath: $0, relativeTo: cwd).deletingLastPathComponent() }
        for key in Self.keys where key.isPath {
            guard let text = values[key.name], !text.isEmpty, !text.hasPrefix("/") else { continue }
            let source = sources[key.name] ?? "default"
            let base = (source == file || source == "default") ? (fileDirectory ?? cwd) : cwd
            values[key.name] = URL(fileURLWithPath: text, relativeTo: base).standardizedFileURL.path
        }
    }

    /// Defaults only (for tests and tools).
    public static func defaults() -> Configuration {
        try! load(file: "", environment: [:], overrides: [])
    }

    /// Sets one key, refusing unknown ones. A secret's `<key>_file` reads the
    /// secret from that file (`readSecretFile`), at this level of precedence.
    public mutating func set(_ key: String, _ value: String, source: String = "code") throws {
        if key.hasSuffix(Self.fileSuffix), case let secret = String(key.dropLast(Self.fileSuffix.count)), Self.secretKeys.contains(secret) {
            // Both forms from one source would depend on the order they are read in.
            if sources[secret] == source { throw ConfigurationError("\(secret) and \(key) are both set (from \(source)); set one") }
            values[secret] = try Self.readSecretFile(value, key: key, source: source)
            sources[secret] = "\(key) from \(source)"
            return
        }
        guard Self.keyNames.contains(key) else {
            throw ConfigurationError("unknown configuration key '\(key)' (from \(source)); see docs/configuration.md")
        }
        if sources[key] == "\(key)\(Self.fileSuffix) from \(source)" {
            throw ConfigurationError("\(key) and \(key)\(Self.fileSuffix) are both set (from \(source)); set one")
        }
        values[key] = value
        sources[key] = source
    }

    /// What names a secret's file: `sender.smtp_password_file`, `HERALD_SENDER_SMTP_PASSWORD_FILE`.
    static let fileSuffix = "_file"

    /// Largest secret file read: a key, token or password, not a document.
    static let maxSecretFileBytes = 64 * 1024

    /// A secret from a file (a Kubernetes Secret or a compose secret mounted as
    /// one): its text with one trailing line break removed, as editors and
    /// `echo` leave one. An error names the key and the path, never the content.
    static func readSecretFile(_ path: String, key: String, source: String) throws(ConfigurationError) -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ConfigurationError("configuration key '\(key)' (from \(source)) names '\(path)', which cannot be read")
        }
        defer { try? handle.close() }
        let data = (try? handle.read(upToCount: maxSecretFileBytes + 1)) ?? Data()
        guard data.count <= maxSecretFileBytes else {
            throw ConfigurationError("configuration key '\(key)' (from \(source)) names '\(path)', which is larger than \(maxSecretFileBytes) bytes")
        }
        guard var text = String(data: data, encoding: .utf8) else {
            throw ConfigurationError("configuration key '\(key)' (from \(source)) names '\(path)', which is not UTF-8 text")
        }
        if let last = text.last, last == "\n" || last == "\r\n" { text.removeLast() }
        return text
    }

    private static func flatten(_ map: [String: JSONValue], prefix: String) -> [(String, String)] {
        var out: [(String, String)] = []
        for (k, v) in map {
            let key = prefix.isEmpty ? k : "\(prefix).\(k)"
            switch v {
            case .object(let nested): out += flatten(nested, prefix: key)
            case .array(let list): out.append((key, list.map(scalarText).joined(separator: ",")))
            default: out.append((key, scalarText(v)))
            }
        }
        return out
    }

    /// A YAML scalar as configuration text; a nested list or mapping as its JSON.
    private static func scalarText(_ v: JSONValue) -> String {
        v.scalarText ?? String(decoding: v.serialized(), as: UTF8.self)
    }

    // MARK: - Typed access

    func raw(_ key: String) -> String { values[key] ?? "" }

    /// Keys whose values are secrets: an error names the key and where the value
    /// came from, never the value.
    public static let secretKeys: Set<String> = Set(keys.filter(\.isSecret).map(\.name))

    func bad(_ key: String, _ expected: String) -> ConfigurationError {
        let shown = Self.secretKeys.contains(key) ? "(secret, not shown)" : "'\(raw(key))'"
        return ConfigurationError("configuration key '\(key)' = \(shown) (from \(sources[key] ?? "?")): \(expected)")
    }

    /// A key's text as loaded (before any check); "" for an unknown key.
    public func string(_ key: String) -> String { raw(key) }

    /// A key's checked value.
    /// - Throws: `ConfigurationError` naming the key, its value (unless it is a
    ///   secret), where the value came from and what was expected.
    func value<Value>(_ setting: Setting<Value>) throws(ConfigurationError) -> Value {
        do {
            return try setting.convert(raw(setting.key.name))
        } catch {
            throw bad(setting.key.name, error.expected)
        }
    }

    /// Refuses to start without a directory the worker reads its files from:
    /// a missing templates directory would otherwise be an empty one, and every
    /// message would end `sending_failed`.
    /// - Throws: `ConfigurationError` naming the key and the path.
    public static func requireDirectory(_ path: String, key: String) throws(ConfigurationError) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ConfigurationError(
                "configuration key '\(key)' names '\(path)', which is not a directory (relative paths are relative to the configuration file)")
        }
    }

    /// The configuration's durations use Herald's one grammar (`DurationText`).
    public static func parseDuration(_ text: String) -> Duration? { DurationText.parseOrNil(text) }
}

import Foundation
import HeraldCore
import Logging

/// Process-wide logging set-up for Herald's executables. Libraries never call
/// this; they take a `Logger`.
public enum HeraldLogging {
    /// Bootstraps swift-log once: text lines or JSON lines on standard error.
    public static func bootstrap(level: Logger.Level, format: LogFormat) {
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler
            switch format {
            case .text: handler = StreamLogHandler.standardError(label: label)
            case .json: handler = JSONLogHandler(label: label)
            }
            handler.logLevel = level
            return handler
        }
    }
}

/// Writes one JSON object per line to standard error:
/// `{"ts":"…","level":"info","logger":"…","msg":"…","kafka.topic":"…"}`.
public struct JSONLogHandler: LogHandler {
    /// Metadata added to every line of this logger.
    public var metadata: Logger.Metadata = [:]
    /// Lines below this level are not written.
    public var logLevel: Logger.Level = .info
    /// Metadata computed per line (task-local values), if any.
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String

    /// A handler writing lines with `"logger": label`.
    public init(label: String) {
        self.label = label
    }

    /// One metadata value of this logger.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Writes `event` as one JSON line.
    public func log(event: LogEvent) {
        var object: [String: JSONValue] = [
            "ts": .string(RFC3339.format(milliseconds: WallClock.system.now())),
            "level": .string(event.level.rawValue),
            "logger": .string(label),
            "msg": .string(event.message.description),
        ]
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        for (k, v) in merged { object[k] = .string("\(v)") }
        var line = JSONValue.object(object).serialized()
        line.append(0x0A)
        // One write(2) per line so lines from threads never interleave.
        line.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
    }
}

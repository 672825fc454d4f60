import HeraldCore

/// An error from Kafka, mapped once from librdkafka's codes.
public struct KafkaError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A librdkafka error code, with names for the ones Herald acts on.
    /// The named codes and the mapping from librdkafka's are in
    /// `RDKafka/KafkaError+RDKafka.swift`.
    public struct Code: Hashable, Sendable {
        /// librdkafka's numeric error code.
        public let rawValue: Int32

        /// Not a librdkafka code: a configuration property was refused.
        public static let configuration = Code(rawValue: -10_001)
        /// Not a librdkafka code: the client is shutting down.
        public static let shuttingDown = Code(rawValue: -10_002)

        init(rawValue: Int32) { self.rawValue = rawValue }
    }

    /// librdkafka's error code.
    public var code: Code
    /// librdkafka's (or Herald's) explanation.
    public var message: String
    /// Whether trying the same operation again may succeed.
    public var isRetriable: Bool

    /// `Kafka error <code> (<name>): <message>`.
    public var description: String { "Kafka error \(code.rawValue) (\(code)): \(message)" }

    init(code: Code, message: String, isRetriable: Bool) {
        self.code = code
        self.message = message
        self.isRetriable = isRetriable
    }

    static func configuration(_ message: String) -> KafkaError {
        KafkaError(code: .configuration, message: message, isRetriable: false)
    }

    /// Work handed to a client that is closing.
    public static let shuttingDown = KafkaError(code: .shuttingDown, message: "the Kafka client is shutting down", isRetriable: false)
}

extension KafkaError: DependencyFailure {
    /// The broker is unreachable or slow (a retriable client error). A record
    /// too large for the broker, or a refused configuration, is not an outage.
    public var isOutage: Bool { isRetriable || code == .shuttingDown }
}

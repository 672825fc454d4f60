internal import CRdKafka
import HeraldCore

/// An error from Kafka, mapped once from librdkafka's codes.
public struct KafkaError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A librdkafka error code, with names for the ones Herald acts on.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// librdkafka's numeric code (`rd_kafka_resp_err_t`).
        public let rawValue: Int32
        /// librdkafka's symbolic name, e.g. `_QUEUE_FULL`.
        public var description: String { String(cString: rd_kafka_err2name(rd_kafka_resp_err_t(rawValue))) }

        init(_ err: rd_kafka_resp_err_t) { rawValue = err.rawValue }

        public static let queueFull = Code(RD_KAFKA_RESP_ERR__QUEUE_FULL)
        public static let messageTimedOut = Code(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT)
        public static let unknownTopic = Code(RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC)
        public static let unknownTopicOrPartition = Code(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
        public static let transport = Code(RD_KAFKA_RESP_ERR__TRANSPORT)
        public static let allBrokersDown = Code(RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
        public static let offsetOutOfRange = Code(RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE)
        public static let autoOffsetReset = Code(RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET)
        public static let timedOut = Code(RD_KAFKA_RESP_ERR__TIMED_OUT)
        public static let topicAlreadyExists = Code(RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
        public static let invalidArgument = Code(RD_KAFKA_RESP_ERR__INVALID_ARG)
        public static let fatal = Code(RD_KAFKA_RESP_ERR__FATAL)
        /// Not a librdkafka code: a configuration property was refused.
        public static let configuration = Code(rawValue: -10_001)
        /// Not a librdkafka code: the client is shutting down.
        public static let shuttingDown = Code(rawValue: -10_002)

        init(rawValue: Int32) { self.rawValue = rawValue }
    }

    public var code: Code
    public var message: String
    /// Whether trying the same operation again may succeed.
    public var isRetriable: Bool

    public var description: String { "Kafka error \(code.rawValue) (\(code)): \(message)" }

    init(code: Code, message: String, isRetriable: Bool) {
        self.code = code
        self.message = message
        self.isRetriable = isRetriable
    }

    init(_ err: rd_kafka_resp_err_t, context: String? = nil) {
        let text = String(cString: rd_kafka_err2str(err))
        let retriable: Bool
        switch err {
        case RD_KAFKA_RESP_ERR__QUEUE_FULL, RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, RD_KAFKA_RESP_ERR__TRANSPORT,
            RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, RD_KAFKA_RESP_ERR__TIMED_OUT, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
            RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
            RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND,
            RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
            retriable = true
        default:
            retriable = false
        }
        self.init(code: Code(err), message: context.map { "\($0): \(text)" } ?? text, isRetriable: retriable)
    }

    static func configuration(_ message: String) -> KafkaError {
        KafkaError(code: .configuration, message: message, isRetriable: false)
    }

    public static let shuttingDown = KafkaError(code: .shuttingDown, message: "the Kafka client is shutting down", isRetriable: false)
}

extension KafkaError: DependencyFailure {
    /// The broker is unreachable or slow (a retriable client error). A record
    /// too large for the broker, or a refused configuration, is not an outage.
    public var isOutage: Bool { isRetriable || code == .shuttingDown }
}

internal import CRdKafka

// librdkafka's error codes, mapped once: the codes Herald acts on by name, the
// symbolic name of any code, and which codes are worth retrying.

extension KafkaError.Code: CustomStringConvertible {
    /// librdkafka's symbolic name, e.g. `_QUEUE_FULL`.
    public var description: String { String(cString: rd_kafka_err2name(rd_kafka_resp_err_t(rawValue))) }

    init(_ err: rd_kafka_resp_err_t) { self.init(rawValue: err.rawValue) }

    /// The producer's local queue is full: wait for deliveries, then produce again.
    public static let queueFull = KafkaError.Code(RD_KAFKA_RESP_ERR__QUEUE_FULL)
    /// A record was not acknowledged within `message.timeout.ms`.
    public static let messageTimedOut = KafkaError.Code(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT)
    /// The client does not know the topic (local error).
    public static let unknownTopic = KafkaError.Code(RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC)
    /// The broker has no such topic or partition.
    public static let unknownTopicOrPartition = KafkaError.Code(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
    /// A broker connection failed.
    public static let transport = KafkaError.Code(RD_KAFKA_RESP_ERR__TRANSPORT)
    /// No broker can be reached.
    public static let allBrokersDown = KafkaError.Code(RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
    /// The committed offset is no longer in the log (retention removed it).
    public static let offsetOutOfRange = KafkaError.Code(RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE)
    /// The consumer reset its position because the offset was out of range.
    public static let autoOffsetReset = KafkaError.Code(RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET)
    /// A request timed out.
    public static let timedOut = KafkaError.Code(RD_KAFKA_RESP_ERR__TIMED_OUT)
    /// Creating a topic that exists (not an error at start-up).
    public static let topicAlreadyExists = KafkaError.Code(RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
    /// librdkafka refused an argument.
    public static let invalidArgument = KafkaError.Code(RD_KAFKA_RESP_ERR__INVALID_ARG)
    /// The client hit a fatal error and must be recreated.
    public static let fatal = KafkaError.Code(RD_KAFKA_RESP_ERR__FATAL)
}

extension KafkaError {
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
}

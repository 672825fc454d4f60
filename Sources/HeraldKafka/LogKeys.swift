/// Structured log metadata keys used by HeraldKafka (one place, dotted names).
enum LogKeys {
    static let topic = "kafka.topic"
    static let partition = "kafka.partition"
    static let partitions = "kafka.partitions"
    static let offset = "kafka.offset"
    static let outstanding = "kafka.outstanding"
    static let error = "kafka.error"
    static let group = "kafka.group"
    static let lost = "kafka.records_lost"
}

internal import CRdKafka
import Foundation
import HeraldCore
import Logging
import Synchronization

/// Owns one `rd_kafka_t`.
///
/// `@unchecked Sendable`: librdkafka handles are thread-safe (every rd_kafka_*
/// call on them may come from any thread); the pointer itself never changes.
final class RDKafkaHandle: @unchecked Sendable {
    let rk: OpaquePointer
    /// Where this handle's blocking calls (metadata, flush, commit, close) run.
    let queue: BlockingQueue
    let logger: Logger
    /// What the callbacks reach through the configuration opaque; held here so it
    /// is released only after `rd_kafka_destroy` returned.
    private let callbackContext: (any Sendable & AnyObject)?
    /// Put before every topic name at the broker (`kafka.topic_prefix`): a shared
    /// cluster's namespace. Herald's code names topics without it; this folder
    /// adds it on the way to librdkafka and takes it off on the way back.
    let topicPrefix: String

    init(_ rk: OpaquePointer, logger: Logger, callbackContext: (any Sendable & AnyObject)? = nil, topicPrefix: String = "") {
        self.rk = rk
        self.topicPrefix = topicPrefix
        self.logger = logger
        self.callbackContext = callbackContext
        self.queue = BlockingQueue(label: "kafka.\(String(cString: rd_kafka_name(rk)))")
    }

    /// `topic` as the broker names it.
    func wire(_ topic: String) -> String { topicPrefix + topic }

    /// Keeps `rd_kafka_destroy` from running for this handle (see the consumer's
    /// close: a librdkafka assertion): a reference held to the process's exit.
    func leakAtExit() { Self.kept.withLock { $0.append(self) } }

    /// Handles kept to the process's exit.
    private static let kept = Mutex<[RDKafkaHandle]>([])

    deinit {
        rd_kafka_destroy(rk)
    }

    /// True when a broker answered a metadata request within `timeout`.
    func isReachable(timeout: Duration) async -> Bool {
        let ms = Int32(clamping: timeout.milliseconds)
        return await queue.run { [self] in
            var metadata: UnsafePointer<rd_kafka_metadata>? = nil
            let err = rd_kafka_metadata(rk, 0, nil, &metadata, ms)
            if let metadata { rd_kafka_metadata_destroy(metadata) }
            return err == RD_KAFKA_RESP_ERR_NO_ERROR
        }
    }

    /// Routes librdkafka's own log lines into swift-log instead of raw stderr.
    static func installLogging(_ conf: OpaquePointer) {
        rd_kafka_conf_set_log_cb(conf, librdkafkaLogCallback)
    }
}

private let librdkafkaLogger = Logger(label: "librdkafka")

/// Called on librdkafka's threads; must not capture any context.
private let librdkafkaLogCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafePointer<CChar>?) -> Void = {
    _, level, facility, message in
    let text = message.map { String(cString: $0) } ?? ""
    let fac = facility.map { String(cString: $0) } ?? ""
    // syslog levels: 0-3 error, 4 warning, 5-6 notice/info, 7 debug.
    let swiftLevel: Logger.Level = level <= 3 ? .error : level == 4 ? .warning : level <= 6 ? .info : .debug
    librdkafkaLogger.log(level: swiftLevel, "\(text)", metadata: ["kafka.facility": "\(fac)"])
}

/// A dedicated thread that calls `body` (a bounded blocking C call such as
/// `rd_kafka_poll(rk, 50)`) in a loop until stopped, so polling never occupies
/// the cooperative pool.
final class PollThread: Sendable {
    private let running = Atomic<Bool>(false)
    private let name: String
    private let body: @Sendable () -> Void
    private let done = DispatchSemaphore(value: 0)

    init(name: String, body: @escaping @Sendable () -> Void) {
        self.name = name
        self.body = body
    }

    func start() {
        running.store(true, ordering: .sequentiallyConsistent)
        let thread = Thread { [self] in
            while running.load(ordering: .sequentiallyConsistent) { body() }
            done.signal()
        }
        thread.name = name
        thread.start()
    }

    /// Stops the loop and waits for the current `body` call to return (bounded by it).
    func stop() {
        guard running.exchange(false, ordering: .sequentiallyConsistent) else { return }
        done.wait()
    }
}

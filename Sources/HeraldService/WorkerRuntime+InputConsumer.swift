import HeraldKafka
import Prometheus

extension WorkerRuntime {
    /// A group member on `topic` that acknowledges every record, counting them in
    /// `herald_worker_records_received_total`. The scheduler, sender and alerter use
    /// it until their own logic replaces the handler.
    public func inputConsumer(topic: String) throws -> KafkaConsumer {
        let received = metrics.makeCounter(
            descriptor: .init(metricName: "herald_worker_records_received", unitName: "total", helpText: "Records received on the worker's input topic"),
            labels: [("worker", worker.rawValue), ("topic", topic)])
        let logger = self.logger
        return try consumer(topics: [topic]) { batch in
            received.increment(by: Int64(batch.count))
            logger.debug("records received", metadata: ["kafka.topic": "\(topic)", "herald.count": "\(batch.count)"])
        }
    }
}

import Foundation
import HeraldCore
import HeraldKafka
import HeraldRedis
import HeraldService
import ServiceLifecycle

/// Builds `herald-alerter`'s services: the `herald.events` consumer that
/// evaluates page views against the alert rules, the rule catalogue, and the
/// sweep that closes visits whose session timed out.
public enum AlerterApp {
    /// The alerter's services: the rule catalogue's refresher, the `herald.events` consumer and the
    /// sweeper that closes visits whose session timed out.
    public static func services(runtime: WorkerRuntime) async throws -> [any Service] {
        let settings = runtime.settings
        let store = AlertStore(redis: runtime.redis, partitions: settings.partitions)
        let catalog = RuleCatalog(store: store, logger: runtime.logger)
        try Configuration.requireDirectory(settings.alerts.rulesDirectory, key: "alerts.dir")
        try Configuration.requireDirectory(settings.alerts.templatesDirectory, key: "alerts.templates_dir")
        // Redis may still be starting (or loading its data set) when the alerter
        // does: retry the start-up reads and writes for a while instead of exiting.
        var delay = Duration.milliseconds(200)
        let giveUp = ContinuousClock.now + .seconds(60)
        while true {
            do {
                try await importRuleFiles(directory: settings.alerts.rulesDirectory, into: store, runtime: runtime)
                try await catalog.refresh()
                break
            } catch let error as RedisError where ContinuousClock.now < giveUp {
                runtime.logger.warning("alerter waits for Redis to load its rules", metadata: ["redis.error": "\(error)"])
                try await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
            }
        }
        let evaluator = AlertEvaluator(
            catalog: catalog, store: store, contacts: ContactStore(redis: runtime.redis, partitions: settings.partitions),
            renderer: try await AlertRenderer.load(directory: settings.alerts.templatesDirectory), producer: runtime.producer,
            sessionTimeoutMs: settings.alerts.sessionTimeout.milliseconds, metrics: AlerterMetrics(registry: runtime.metrics), deadLetters: runtime.deadLetters,
            logger: runtime.logger)
        // Up to 5,000 events a batch: the Redis round trips are paid per batch, and a
        // batch is only as large as the backlog, so light load keeps them small.
        let consumer = try runtime.consumer(topics: [Topics.events], maxBatchSize: 5000) { batch in
            try await evaluator.handle(batch)
        }
        return [catalog, consumer, VisitTimeoutSweeper(consumer: consumer, evaluator: evaluator, interval: .seconds(1))]
    }

    /// Saves each `*.yaml` of `directory` as a rule. A file that does not read
    /// stops the start-up with the file, field and reason: a rule silently
    /// missing would be worse than an alerter that does not start.
    static func importRuleFiles(directory: String, into store: AlertStore, runtime: WorkerRuntime) async throws {
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
        for file in files {
            let path = "\(directory)/\(file)"
            let text = try String(contentsOfFile: path, encoding: .utf8)
            do {
                let rule = try AlertRule(json: try YAMLValue.parse(text))
                try await store.put(rule)
            } catch let error as AlertRuleError {
                throw AlertRuleFileError(path: path, error: error)
            }
        }
        if !files.isEmpty { runtime.logger.info("alerter saved rule files", metadata: ["herald.count": "\(files.count)", "herald.dir": "\(directory)"]) }
    }
}

struct AlertRuleFileError: Error, CustomStringConvertible {
    let path: String
    let error: AlertRuleError
    var description: String { "\(path): \(error)" }
}

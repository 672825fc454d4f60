import HeraldCore
import HeraldRedis
import Logging
import ServiceLifecycle
import Synchronization

/// The enabled rules, indexed by page; reloaded from Redis within a second of a
/// change (the version counter moved), so rules change without a restart.
final class RuleCatalog: Service, Sendable {
    let store: AlertStore
    let logger: Logger
    private let state = Mutex<(version: Int64, index: AlertRuleIndex, all: [String: AlertRule])>((-1, AlertRuleIndex(rules: []), [:]))

    init(store: AlertStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    var index: AlertRuleIndex { state.withLock { $0.index } }
    /// Any stored rule by id, enabled or not (a visit waiting on a rule disabled since is dropped).
    func rule(_ id: String) -> AlertRule? { state.withLock { $0.all[id] } }

    /// Loads the rules if they changed.
    func refresh() async throws {
        let version = try await store.version()
        guard version != state.withLock({ $0.version }) else { return }
        let rules = try await store.rules()
        state.withLock { $0 = (version, AlertRuleIndex(rules: rules), Dictionary(uniqueKeysWithValues: rules.map { ($0.id, $0) })) }
        logger.info(
            "alerter loaded rules",
            metadata: ["herald.rules": "\(rules.count)", "herald.enabled": "\(rules.filter(\.enabled).count)", "herald.version": "\(version)"])
    }

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do { try await refresh() } catch {
                logger.warning("alerter could not reload rules; keeps the ones it has", metadata: ["herald.error": "\(error)"])
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }
}

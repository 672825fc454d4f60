import HeraldCore
import Logging
import ServiceLifecycle
import Synchronization

/// A bounded pool of Redis connections that pipelines concurrent callers' commands.
///
/// Each connection belongs to one slot and is used only on that slot's serial
/// queue, so no hiredis call ever runs on Swift's cooperative pool. Calls are
/// queued; a slot that is free takes everything queued so far and sends it as one
/// pipeline (one write, one read), then takes what queued meanwhile, until the
/// queue is empty. A lone call goes out at once; under load, hundreds of calls
/// share one round trip and one thread wake-up instead of one each (the sender's
/// five small scripts per message were mostly futex wake-ups before this). A
/// connection
/// that saw an error or timeout is discarded; the slot reconnects on its next use,
/// with exponential backoff after failed connects (callers get `.unavailable`
/// meanwhile instead of waiting on a dead server).
///
/// As a `Service` it closes its connections on graceful shutdown; put it before
/// the services that use it in a `ServiceGroup`.
public final class RedisPool: Service, Sendable {
    private let configuration: RedisConfiguration
    private let logger: Logger
    private let slots: [Slot]
    private let lanes: Mutex<Lanes>
    private let flushes = Atomic<Int>(0)
    private let observer: RoundTripObserver?

    /// Told of every round trip (one pipeline written and its replies read): how
    /// long it took, the error that failed it (nil when it did not), and how many
    /// of its replies were errors. Runs on the slot's queue: keep it cheap.
    public typealias RoundTripObserver = @Sendable (_ duration: Duration, _ failure: RedisError.Code?, _ errorReplies: Int) -> Void

    /// Pipelines written to the server so far: fewer than the calls made when
    /// concurrent calls shared round trips.
    public var roundTrips: Int { flushes.load(ordering: .relaxed) }

    /// Calls waiting for a slot, and the slots not draining them.
    private struct Lanes {
        var pending: [Pending] = []
        /// Commands in `pending`, summed.
        var pendingCommands = 0
        var free: [Int]
        var closed = false
    }

    /// One caller's commands and where its replies go.
    private struct Pending {
        var commands: RESPCommands
        var continuation: CheckedContinuation<[RedisValue], any Error>
    }

    /// At most this many commands go out in one pipeline, so one huge backlog
    /// does not become one huge write (and other slots share the work).
    static let maxCommandsPerFlush = 1024
    private let loadedScripts = Mutex<Set<String>>([])

    /// A pool of `configuration.poolSize` connections, opened on first use;
    /// `observer` hears of each round trip (metrics).
    public init(configuration: RedisConfiguration, logger: Logger, observer: RoundTripObserver? = nil) {
        precondition(configuration.poolSize > 0, "redis pool size must be positive")
        self.observer = observer
        self.configuration = configuration
        self.logger = logger
        let locator =
            configuration.sentinels.isEmpty
            ? nil : SentinelLocator(sentinels: configuration.sentinels, name: configuration.sentinelMaster, configuration: configuration)
        self.slots = (0..<configuration.poolSize).map { Slot(index: $0, configuration: configuration, locator: locator) }
        self.lanes = Mutex(Lanes(free: Array((0..<configuration.poolSize).reversed())))
    }

    // MARK: - Commands

    /// Runs one command.
    /// - Throws: `RedisError` (`.server` for an error reply).
    @discardableResult
    public func execute(_ arguments: [String]) async throws -> RedisValue {
        let reply = try await pipeline([arguments])[0]
        if case .error(let message) = reply { throw RedisError(code: .server, message: message) }
        return reply
    }

    /// Runs one command whose arguments are raw bytes.
    @discardableResult
    public func execute(bytes arguments: [[UInt8]]) async throws -> RedisValue {
        let reply = try await pipeline(bytes: [arguments])[0]
        if case .error(let message) = reply { throw RedisError(code: .server, message: message) }
        return reply
    }

    /// Sends the commands in one round trip on one connection and returns every
    /// reply in order; error replies are returned as `.error` values.
    public func pipeline(_ commands: [[String]]) async throws -> [RedisValue] {
        try await pipeline(RESPCommands(commands))
    }

    /// `pipeline` with raw byte arguments.
    public func pipeline(bytes commands: [[[UInt8]]]) async throws -> [RedisValue] {
        try await pipeline(RESPCommands(bytes: commands))
    }

    /// `pipeline` with the commands already encoded.
    func pipeline(_ commands: RESPCommands) async throws -> [RedisValue] {
        guard commands.count > 0 else { return [] }
        return try await withCheckedThrowingContinuation { continuation in
            let start: Result<Int?, any Error> = lanes.withLock { l in
                if l.closed { return .failure(RedisError(code: .closed, message: "the Redis pool is closed")) }
                l.pending.append(Pending(commands: commands, continuation: continuation))
                l.pendingCommands += commands.count
                return .success(l.free.popLast())
            }
            switch start {
            case .failure(let error): continuation.resume(throwing: error)
            case .success(let index?): slots[index].queue.async { self.drain(slot: index) }
            case .success(nil): break  // a draining slot will take it
            }
        }
    }

    /// On slot `index`'s queue: sends what is queued, in pipelines, until nothing is.
    private func drain(slot index: Int) {
        let slot = slots[index]
        while true {
            // Kept short: every caller takes this lock too.
            let batch = lanes.withLock { l -> [Pending] in
                if l.pending.isEmpty {
                    l.free.append(index)
                    return []
                }
                if l.pendingCommands <= Self.maxCommandsPerFlush {
                    l.pendingCommands = 0
                    var all: [Pending] = []
                    swap(&all, &l.pending)
                    return all
                }
                var count = 0
                var taken = 0
                for p in l.pending {
                    if taken > 0 && count + p.commands.count > Self.maxCommandsPerFlush { break }
                    count += p.commands.count
                    taken += 1
                }
                l.pendingCommands -= count
                defer { l.pending.removeFirst(taken) }
                return Array(l.pending.prefix(taken))
            }
            guard !batch.isEmpty else { return }
            flushes.add(1, ordering: .relaxed)
            let started = ContinuousClock.now
            do {
                let replies = try slot.perform(
                    batch.count == 1 ? batch[0].commands : batch.reduce(into: RESPCommands()) { $0.append(contentsOf: $1.commands) }, logger: logger)
                if let observer {
                    observer(ContinuousClock.now - started, nil, replies.reduce(0) { if case .error = $1 { $0 + 1 } else { $0 } })
                }
                var offset = 0
                for p in batch {
                    p.continuation.resume(returning: Array(replies[offset..<offset + p.commands.count]))
                    offset += p.commands.count
                }
            } catch {
                observer?(ContinuousClock.now - started, (error as? RedisError)?.code ?? .connection, 0)
                // The connection failed: every call in this pipeline gets the error.
                for p in batch { p.continuation.resume(throwing: error) }
            }
        }
    }

    /// Calls a Lua script by SHA, loading it first if this pool has not yet, and
    /// again when the server answers `NOSCRIPT`.
    /// - Throws: `RedisError` (`.server` for a script error).
    @discardableResult
    public func eval(_ script: RedisScript, keys: [String], arguments: [String]) async throws -> RedisValue {
        for attempt in 0..<2 {
            let sha = attempt == 0 && loaded(script) ? script.sha : try await load(script)
            let reply = try await pipeline([["EVALSHA", sha, String(keys.count)] + keys + arguments])[0]
            if case .error(let message) = reply {
                if message.hasPrefix("NOSCRIPT") { continue }
                throw RedisError(code: .server, message: "script \(script.name): \(message)")
            }
            return reply
        }
        throw RedisError(code: .server, message: "script \(script.name): NOSCRIPT after reloading")
    }

    /// Calls `script` once per entry of `calls`, all in one pipeline (one round
    /// trip); replies are in order, script errors as `.error` values.
    /// - Parameter first: commands sent ahead of the calls in the same pipeline,
    ///   so they have run when the scripts run, at no round trip of their own.
    ///   They are sent again if the script has to be loaded again (`NOSCRIPT`):
    ///   make them idempotent.
    /// - Throws: `RedisError` for a connection problem, or an error reply to one of
    ///   `first` (the calls have run all the same: they were in the pipeline).
    public func evalMany(_ script: RedisScript, calls: [(keys: [String], arguments: [String])], first: [[String]] = []) async throws -> [RedisValue] {
        try await evalMany(script, count: calls.count, first: first) { commands, sha in
            Self.encode(calls, sha: sha, into: &commands) { $0.argument($1) }
        }
    }

    /// `evalMany` with byte arguments, for values that are bytes already (a
    /// stored document compared and replaced as it is, without a detour through `String`).
    public func evalMany(_ script: RedisScript, byteCalls calls: [(keys: [String], arguments: [[UInt8]])]) async throws -> [RedisValue] {
        try await evalMany(script, count: calls.count, first: []) { commands, sha in
            Self.encode(calls, sha: sha, into: &commands) { $0.argument(bytes: $1) }
        }
    }

    /// Appends one `EVALSHA sha` per call, its arguments written by `write`.
    private static func encode<Argument>(
        _ calls: [(keys: [String], arguments: [Argument])], sha: String, into commands: inout RESPCommands,
        write: (inout RESPCommands, Argument) -> Void
    ) {
        for call in calls {
            commands.begin(arguments: 3 + call.keys.count + call.arguments.count)
            commands.argument("EVALSHA")
            commands.argument(sha)
            commands.argument(String(call.keys.count))
            for key in call.keys { commands.argument(key) }
            for argument in call.arguments { write(&commands, argument) }
        }
    }

    /// Sends `first`, then the `count` calls `encode` writes for a script SHA, in one pipeline.
    private func evalMany(
        _ script: RedisScript, count: Int, first: [[String]], encode: (inout RESPCommands, String) -> Void
    ) async throws -> [RedisValue] {
        guard count > 0 else {
            if !first.isEmpty { try Self.check(try await pipeline(first), of: first) }
            return []
        }
        for attempt in 0..<2 {
            let sha = attempt == 0 && loaded(script) ? script.sha : try await load(script)
            var commands = RESPCommands(first)
            encode(&commands, sha)
            let replies = try await pipeline(commands)
            try Self.check(replies[..<first.count], of: first)
            let scripts = replies[first.count...]
            if scripts.contains(where: { if case .error(let m) = $0 { m.hasPrefix("NOSCRIPT") } else { false } }) { continue }
            return Array(scripts)
        }
        throw RedisError(code: .server, message: "script \(script.name): NOSCRIPT after reloading")
    }

    /// Throws for the first error reply, naming its command.
    private static func check(_ replies: some Collection<RedisValue>, of commands: [[String]]) throws {
        for (reply, command) in zip(replies, commands) {
            if case .error(let message) = reply {
                throw RedisError(code: .server, message: "\(command.first ?? "") \(command.dropFirst().first ?? ""): \(message)")
            }
        }
    }

    /// Whether this pool has loaded the script (by its SHA: a 40-byte key, where
    /// the source as key was a few KB hashed on every call).
    private func loaded(_ script: RedisScript) -> Bool { loadedScripts.withLock { $0.contains(script.sha) } }

    private func load(_ script: RedisScript) async throws -> String {
        guard let sha = try await execute(["SCRIPT", "LOAD", script.source]).string else {
            throw RedisError(code: .server, message: "SCRIPT LOAD of \(script.name) returned no SHA")
        }
        loadedScripts.withLock { _ = $0.insert(sha) }
        return sha
    }

    /// True when `PING` answered `PONG`.
    public func ping() async -> Bool {
        (try? await execute(["PING"]).string) == "PONG"
    }

    // MARK: - Service

    /// Waits for graceful shutdown, then closes every connection.
    public func run() async throws {
        try? await gracefulShutdown()
        await close()
    }

    /// Refuses new calls and closes idle connections.
    public func close() async {
        lanes.withLock { $0.closed = true }  // calls already queued are still sent
        for slot in slots {
            await slot.queue.run { slot.disconnect() }
        }
    }
}

/// One pool slot: a queue and the connection only that queue touches.
///
/// `@unchecked Sendable`: `connection` and the backoff state are read and written
/// only on `queue` (a serial queue), which is the synchronisation.
final class Slot: @unchecked Sendable {
    let queue: BlockingQueue
    private let configuration: RedisConfiguration
    private var connection: RedisConnection?
    private var backoff: Duration = .zero
    private var nextAttempt: ContinuousClock.Instant = .now
    /// With Sentinel: where the primary is (shared by the pool's slots).
    private let locator: SentinelLocator?

    init(index: Int, configuration: RedisConfiguration, locator: SentinelLocator? = nil) {
        self.queue = BlockingQueue(label: "redis.slot.\(index)")
        self.configuration = configuration
        self.locator = locator
    }

    /// On `queue` only.
    func perform(_ commands: RESPCommands, logger: Logger) throws -> [RedisValue] {
        let connection = try connected(logger: logger)
        let replies: [RedisValue]
        do {
            replies = try connection.pipeline(commands)
        } catch {
            // The context may hold half a reply: never reuse it.
            self.connection = nil
            locator?.forget()
            throw error
        }
        // A primary demoted by a failover answers writes with READONLY: the
        // batch fails as an outage (waited out, not dead-lettered), and the next
        // connection goes to the new primary.
        for case .error(let message) in replies where message.hasPrefix("READONLY") {
            self.connection = nil
            locator?.forget()
            throw RedisError(code: .connection, message: "the server became a replica (a failover?): \(message)")
        }
        return replies
    }

    private func connected(logger: Logger) throws -> RedisConnection {
        if let connection { return connection }
        let now = ContinuousClock.now
        guard now >= nextAttempt else {
            throw RedisError(
                code: .unavailable,
                message:
                    "backing off after failed connects to \(locator.map { "the primary of '\($0.name)'" } ?? "\(configuration.host):\(configuration.port)")")
        }
        do {
            let address: (host: String, port: Int) = try locator?.primary() ?? (configuration.host, configuration.port)
            let c = try RedisConnection(
                host: address.host, port: address.port, connectTimeout: configuration.connectTimeout, commandTimeout: configuration.commandTimeout)
            try Self.prepare(c, configuration)
            if locator != nil {
                // The sentinels' answer can be stale for a moment around a failover.
                let role = try c.pipeline(RESPCommands([["ROLE"]])).first?.array?.first?.string
                guard role == "master" else {
                    locator?.forget()
                    throw RedisError(code: .connection, message: "\(address.host):\(address.port) is \(role ?? "not answering ROLE"), not the primary")
                }
            }
            connection = c
            backoff = .zero
            return c
        } catch {
            locator?.forget()  // a failed primary: ask the sentinels again
            backoff = backoff == .zero ? configuration.initialBackoff : min(backoff * 2, configuration.maximumBackoff)
            nextAttempt = now + backoff
            logger.warning("redis connect failed", metadata: ["redis.error": "\(error)", "redis.backoff": "\(backoff)"])
            throw error
        }
    }

    /// Logs in and picks the database on a new connection, before any command
    /// of Herald's. A refusal throws `.connection` naming what was refused,
    /// never the password; the connection is then dropped like any failed one.
    static func prepare(_ c: RedisConnection, _ configuration: RedisConfiguration) throws {
        var commands: [[String]] = []
        if !configuration.password.isEmpty {
            commands.append(configuration.username.isEmpty ? ["AUTH", configuration.password] : ["AUTH", configuration.username, configuration.password])
        }
        if configuration.database != 0 { commands.append(["SELECT", String(configuration.database)]) }
        guard !commands.isEmpty else { return }
        for (command, reply) in zip(commands, try c.pipeline(RESPCommands(commands))) {
            if case .error(let message) = reply {
                let who = configuration.username.isEmpty ? "" : " as user '\(configuration.username)'"
                throw RedisError(
                    code: .connection,
                    message:
                        "\(configuration.host):\(configuration.port) refused \(command[0])\(command[0] == "AUTH" ? who : " \(configuration.database)"): \(message)"
                )
            }
        }
    }

    /// On `queue` only.
    func disconnect() {
        connection = nil
    }
}

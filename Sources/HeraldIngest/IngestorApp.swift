import HeraldCore
import HeraldRedis
import HeraldService
import Hummingbird
import Logging
import ServiceLifecycle

/// Builds `herald-ingestor`'s services: the events API and the raw-topic consumer.
/// The executable and the tests call this.
public enum IngestorApp {
    /// The ingestor's services: the event router's consumer, the raw-events consumer and the API.
    public static func services(runtime: WorkerRuntime, onAPIRunning: @escaping @Sendable (Int) async -> Void = { _ in }) throws -> [any Service] {
        let settings = runtime.settings
        try CSVUpload.checkDirectory(settings.importsDirectory)
        if settings.apiKeys.isEmpty && settings.adminKeys.isEmpty {
            runtime.logger.warning("no api.keys configured: every request to /v1/events will get 401")
        }
        if settings.adminKeys.isEmpty {
            runtime.logger.warning("no api.admin_keys configured: /v1/campaigns will answer 401")
        }
        let app = Application(
            router: Self.router(runtime: runtime),
            configuration: .init(address: .hostname(settings.apiHost, port: settings.apiPort), serverName: "herald-ingestor"),
            onServerRunning: { channel in await onAPIRunning(channel.localAddress?.port ?? settings.apiPort) },
            logger: runtime.logger)
        let contacts = ContactStore(redis: runtime.redis, partitions: settings.partitions)
        let segments = SegmentStore(redis: runtime.redis)
        let broadcasts = BroadcastStore(redis: runtime.redis, partitions: settings.partitions)
        let rawIntake = EventIntake(
            redis: runtime.redis, producer: runtime.producer, partitions: settings.partitions, dedupeWindow: settings.dedupeWindow,
            messageTimeout: settings.messageTimeout, metrics: runtime.metrics, source: "raw", logger: runtime.logger)
        let raw = RawEventsHandler(intake: rawIntake, deadLetters: runtime.deadLetters, metrics: runtime.metrics, logger: runtime.logger)
        let consumer = try runtime.consumer(topics: [Topics.eventsRaw], maxBatchSize: settings.rawBatchSize) { batch in
            try await raw.handle(batch)
        }
        let eventRouter = EventRouter(
            store: contacts, catalog: CampaignCatalog(store: CampaignStore(redis: runtime.redis)), producer: runtime.producer, deadLetters: runtime.deadLetters,
            logger: runtime.logger)
        let routerConsumer = try runtime.consumer(topics: [Topics.events], group: EventRouter.consumerGroup, maxBatchSize: 1000) { batch in
            try await eventRouter.handle(batch)
        }
        var planner = BroadcastPlanner(
            store: broadcasts, book: AddressBook(contacts: contacts), segments: segments,
            messages: MessageStore(redis: runtime.redis, partitions: settings.partitions), logger: runtime.logger)
        planner.lease = settings.broadcastsPlannerLease
        planner.heartbeat = runtime.heartbeats.make("broadcast planner")
        // Order: the API and consumers stop first on shutdown (finishing in-flight
        // requests and batches) while the producer and Redis are still up.
        return [routerConsumer, consumer, planner, app]
    }

    /// The API's routes, each behind its key scope, with the metrics and
    /// problem-details middleware; `OpenAPIDocument` describes each one.
    public static func router(runtime: WorkerRuntime) -> Router<BasicRequestContext> {
        let settings = runtime.settings
        let keys = APIKeys(ingest: settings.apiKeys, read: settings.readKeys, admin: settings.adminKeys)
        let apiIntake = EventIntake(
            redis: runtime.redis, producer: runtime.producer, partitions: settings.partitions, dedupeWindow: settings.dedupeWindow,
            messageTimeout: settings.messageTimeout, metrics: runtime.metrics, source: "http", logger: runtime.logger)
        let api = EventsAPI(
            intake: apiIntake, maxBodyBytes: settings.maxBodyBytes, maxBatchEvents: settings.maxBatchEvents, logger: runtime.logger)
        let contacts = ContactStore(redis: runtime.redis, partitions: settings.partitions)
        let journeys = JourneyStore(redis: runtime.redis, partitions: settings.partitions)
        let erasure = ContactErasure(
            contacts: contacts, journeys: journeys, messages: MessageStore(redis: runtime.redis, partitions: settings.partitions),
            alerts: AlertStore(redis: runtime.redis, partitions: settings.partitions), limiter: RateLimiter(redis: runtime.redis))
        let contactsAPI = ContactsAPI(
            store: contacts, journeys: journeys, intake: apiIntake, erasure: erasure, maxBodyBytes: settings.maxBodyBytes, logger: runtime.logger)
        let routes = Router()
        routes.add(middleware: HTTPMetricsMiddleware(registry: runtime.metrics))
        let table = RouteTable()
        routes.add(middleware: ProblemMiddleware(logger: runtime.logger, routes: table))
        // Authorization lives on the route groups, one scope each (`APIKeys`).
        let ingest = routes.requiring(.ingest, keys), read = routes.requiring(.read, keys), admin = routes.requiring(.admin, keys)
        api.addRoutes(to: ingest)
        contactsAPI.addRoutes(read: read, admin: admin)
        ImportsAPI(
            contacts: contacts, jobs: ImportJobStore(redis: runtime.redis), catalog: CampaignCatalog(store: CampaignStore(redis: runtime.redis)),
            producer: runtime.producer, maxBytes: settings.importsMaxBytes,
            directory: settings.importsDirectory, staleAfter: settings.importsStaleAfter, batchesAhead: settings.importsBatchesAhead,
            metrics: runtime.metrics, logger: runtime.logger
        ).addRoutes(read: read, admin: admin)
        ListsAPI(store: ListStore(contacts: contacts), maxBodyBytes: settings.maxBodyBytes, logger: runtime.logger).addRoutes(read: read, admin: admin)
        let segments = SegmentStore(redis: runtime.redis)
        AddressBookAPI(book: AddressBook(contacts: contacts), segments: segments, partitions: settings.partitions, logger: runtime.logger)
            .addRoutes(read: read, admin: admin)
        SegmentsAPI(
            segments: segments, book: AddressBook(contacts: contacts), partitions: settings.partitions, maxBodyBytes: settings.maxBodyBytes,
            logger: runtime.logger
        ).addRoutes(read: read, admin: admin)
        MessagesAPI(
            messages: MessageStore(redis: runtime.redis, partitions: settings.partitions), contacts: contacts,
            unsubscribeSecret: settings.unsubscribeSecret, logger: runtime.logger
        ).addRoutes(read: read, admin: admin, open: routes)
        TrackingAPI(
            messages: MessageStore(redis: runtime.redis, partitions: settings.partitions), producer: runtime.producer,
            secret: settings.unsubscribeSecret, logger: runtime.logger
        ).addRoutes(to: routes)
        StatusAPI(
            messages: MessageStore(redis: runtime.redis, partitions: settings.partitions), templates: WhatsAppCatalog(redis: runtime.redis),
            broadcasts: BroadcastStore(redis: runtime.redis, partitions: settings.partitions), producer: runtime.producer,
            verifyToken: settings.whatsAppVerifyToken, appSecret: settings.whatsAppAppSecret,
            twilioAuthToken: settings.sender.twilioAuthToken, publicURL: settings.sender.publicURL, logger: runtime.logger
        ).addRoutes(to: routes)
        AlertsAPI(store: AlertStore(redis: runtime.redis, partitions: settings.partitions), maxBodyBytes: settings.maxBodyBytes, logger: runtime.logger)
            .addRoutes(to: admin)
        BroadcastsAPI(
            store: BroadcastStore(redis: runtime.redis, partitions: settings.partitions), contacts: contacts, templates: WhatsAppCatalog(redis: runtime.redis),
            maxBodyBytes: settings.maxBodyBytes,
            directory: settings.importsDirectory, maxCSVBytes: settings.importsMaxBytes, logger: runtime.logger
        ).addRoutes(to: admin)
        CampaignsAPI(
            store: CampaignStore(redis: runtime.redis), journeys: journeys, producer: runtime.producer, maxBodyBytes: settings.maxBodyBytes,
            logger: runtime.logger
        )
        .addRoutes(to: admin)
        OpenAPIDocument.addRoutes(to: routes)
        table.load(routes.routes.map { ($0.path.description, $0.method.rawValue) })
        return routes
    }
}

import HeraldIngest
import HeraldService

// herald-ingestor: the events API (POST /v1/events) and the herald.events.raw consumer.
await runWorker(.ingestor) { runtime in
    try IngestorApp.services(runtime: runtime)
}

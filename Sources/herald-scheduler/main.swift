import HeraldScheduler
import HeraldService

// herald-scheduler: consumes herald.journeys, owns the shards of its partitions,
// runs journeys and fires their wake-ups.
await runWorker(.scheduler) { runtime in
    try SchedulerApp.services(runtime: runtime)
}

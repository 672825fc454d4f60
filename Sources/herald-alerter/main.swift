import HeraldCore
import HeraldService

// herald-alerter: consumes herald.events. Alert rules arrive with the alerts issue.
await runWorker(.alerter) { runtime in
    [try runtime.inputConsumer(topic: Topics.events)]
}

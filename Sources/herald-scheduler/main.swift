import HeraldCore
import HeraldService

// herald-scheduler: consumes herald.journeys. Journey logic arrives with the journeys issue;
// for now it joins its group, owns partitions, and acknowledges records.
await runWorker(.scheduler) { runtime in
    [try runtime.inputConsumer(topic: Topics.journeys)]
}

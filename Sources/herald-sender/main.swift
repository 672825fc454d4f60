import HeraldCore
import HeraldService

// herald-sender: consumes herald.sends. Channel logic arrives with the sender issue.
await runWorker(.sender) { runtime in
    [try runtime.inputConsumer(topic: Topics.sends)]
}

import HeraldCore
import HeraldSender
import HeraldService

// herald-sender: consumes herald.sends and turns each request into at most one
// provider call (email over SMTP so far), with per-message states and retries.
await runWorker(.sender) { runtime in
    try await SenderApp.services(runtime: runtime)
}

import HeraldAlerter
import HeraldService

// herald-alerter: evaluates herald.events against the alert rules; alerts go to herald.sends.
await runWorker(.alerter) { runtime in
    try await AlerterApp.services(runtime: runtime)
}

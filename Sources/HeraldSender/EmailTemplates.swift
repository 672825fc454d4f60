import Foundation
import HeraldCore
import Mustache

/// Email templates: `<dir>/email/<name>/subject.mustache`, `text.mustache` and
/// (optional) `html.mustache`, rendered with Mustache from the contact profile
/// and the triggering event:
/// `{{contact.email}}`, `{{contact.attributes.first_name}}`, `{{event.total}}`,
/// `{{campaign_id}}`, `{{unsubscribe_url}}`.
struct EmailTemplates: Sendable {
    let library: MustacheLibrary

    /// Loads every `.mustache` file under `directory` (names like `email/cart-1/subject`).
    static func load(directory: String) async throws -> EmailTemplates {
        guard FileManager.default.fileExists(atPath: directory) else { return EmailTemplates(library: MustacheLibrary()) }
        return EmailTemplates(library: try await MustacheLibrary(directory: directory))
    }

    struct Rendered: Sendable {
        var subject: String
        var text: String
        var html: String?
    }

    /// - Returns: nil when the template (its subject and text) does not exist.
    func render(_ name: String, data: JSONValue) -> Rendered? {
        let object = data.mustacheObject
        guard let subject = library.render(object, withTemplate: "email/\(name)/subject"),
            let text = library.render(object, withTemplate: "email/\(name)/text")
        else { return nil }
        let html = library.render(object, withTemplate: "email/\(name)/html")
        return Rendered(subject: subject.trimmingCharacters(in: .whitespacesAndNewlines), text: text, html: html)
    }
}

extension EmailTemplates {
    /// An SMS body from `sms/<name>.mustache`; nil when it does not exist.
    func renderSMS(_ name: String, data: JSONValue) -> String? {
        library.render(data.mustacheObject, withTemplate: "sms/\(name)")
    }
}

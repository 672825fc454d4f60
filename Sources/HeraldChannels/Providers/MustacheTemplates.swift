import Foundation
import HeraldCore
import Mustache

/// Email and SMS templates: `<dir>/email/<name>/subject.mustache`, `text.mustache`
/// and (optional) `html.mustache`, and `<dir>/sms/<name>.mustache`, rendered with
/// Mustache from the contact profile and the triggering event:
/// `{{contact.email}}`, `{{contact.attributes.first_name}}`, `{{event.total}}`,
/// `{{campaign_id}}`, `{{unsubscribe_url}}`.
public struct MustacheTemplates: Sendable {
    let library: MustacheLibrary

    /// Loads every `.mustache` file under `directory` (names like `email/cart-1/subject`).
    public static func load(directory: String) async throws -> MustacheTemplates {
        guard FileManager.default.fileExists(atPath: directory) else { return MustacheTemplates(library: MustacheLibrary()) }
        return MustacheTemplates(library: try await MustacheLibrary(directory: directory))
    }

    /// An email's parts, rendered.
    public struct Rendered: Sendable {
        /// The subject line.
        public var subject: String
        /// The plain-text body.
        public var text: String
        /// The HTML body, when the template has one.
        public var html: String?
    }

    /// - Returns: nil when the template (its subject and text) does not exist.
    public func render(_ name: String, data: JSONValue) -> Rendered? {
        let object = data.mustacheObject
        guard let subject = library.render(object, withTemplate: "email/\(name)/subject"),
            let text = library.render(object, withTemplate: "email/\(name)/text")
        else { return nil }
        let html = library.render(object, withTemplate: "email/\(name)/html")
        return Rendered(subject: subject.trimmingCharacters(in: .whitespacesAndNewlines), text: text, html: html)
    }
}

extension MustacheTemplates {
    /// An SMS body from `sms/<name>.mustache`; nil when it does not exist.
    public func renderSMS(_ name: String, data: JSONValue) -> String? {
        library.render(data.mustacheObject, withTemplate: "sms/\(name)")
    }
}

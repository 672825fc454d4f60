import Foundation

/// Twilio's `X-Twilio-Signature`: base64 of HMAC-SHA1, under the account's auth
/// token, of the full URL Twilio requested followed by every POST parameter's
/// name and value, sorted by name, with no separators.
/// (https://www.twilio.com/docs/usage/security#validating-requests)
public enum TwilioSignature {
    /// The `X-Twilio-Signature` Twilio sends with a callback to `url` carrying `parameters`:
    /// Base64 of HMAC-SHA1 over the URL followed by each parameter's name and value, sorted by name.
    public static func compute(url: String, parameters: [String: String], authToken: String) -> String {
        var text = url
        for name in parameters.keys.sorted() { text += name + parameters[name]! }
        return Data(Hashing.hmacSHA1(key: Array(authToken.utf8), message: Array(text.utf8))).base64EncodedString()
    }

    /// Compares in constant time (`Hashing.secretsEqual`).
    public static func matches(_ presented: String, url: String, parameters: [String: String], authToken: String) -> Bool {
        Hashing.secretsEqual(presented, compute(url: url, parameters: parameters, authToken: authToken))
    }
}

/// A failure that stops a command, with the message a user sees and the exit code it maps to.
///
/// Check outcomes (a conflict, a failing DAG) are report values, never errors; an `AirlockError`
/// means no verdict could be reached. Rendered in exactly one place, the CLI's error printer.
public struct AirlockError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Why the command could not finish; decides the exit code (SPEC §3.6).
    public enum Kind: String, Sendable, Hashable {
        /// Bad flags or bad input files (exit 2).
        case usage
        /// A tool, the network or the environment failed (exit 3).
        case environment
    }

    public var kind: Kind
    public var message: String
    /// An optional `hint:` line telling the user what to do next.
    public var hint: String?
    /// A usage error about a thing that does not exist (a deployment, deploy or token): the server
    /// answers 404 for it instead of 400.
    public var isNotFound: Bool

    public init(_ kind: Kind, _ message: String, hint: String? = nil, isNotFound: Bool = false) {
        self.kind = kind
        self.message = message
        self.hint = hint
        self.isNotFound = isNotFound
    }

    public static func usage(_ message: String, hint: String? = nil) -> AirlockError {
        AirlockError(.usage, message, hint: hint)
    }

    /// A usage error naming something that does not exist (exit 2; HTTP 404).
    public static func notFound(_ message: String, hint: String? = nil) -> AirlockError {
        AirlockError(.usage, message, hint: hint, isNotFound: true)
    }

    public static func environment(_ message: String, hint: String? = nil) -> AirlockError {
        AirlockError(.environment, message, hint: hint)
    }

    /// Exit code per SPEC §3.6: 2 for bad usage or input, 3 for environment or tool failures.
    public var exitCode: Int32 {
        switch kind {
        case .usage: 2
        case .environment: 3
        }
    }

    public var description: String {
        if let hint { return "\(message)\nhint: \(hint)" }
        return message
    }
}

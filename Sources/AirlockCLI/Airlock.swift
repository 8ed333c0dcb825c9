import AirlockCore
import AirlockToolchain
import ArgumentParser
import Foundation

/// The `airlock` command tree.
public struct Airlock: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "airlock",
        abstract: "Test Airflow upgrades without Docker; record deploys and roll back safely.",
        version: AirlockVersion.current,
        subcommands: [UpgradeTest.self, Runtimes.self, Compare.self, Cache.self, Server.self, DeploymentCommand.self, Deploy.self, Deploys.self, Rollback.self, TokenCommand.self])

    public init() {}

    /// Parses, runs and exits with SPEC §3.6's codes; the one place where errors become text.
    ///
    /// One-shot commands run inside `RunCleanup`: their own temporary folder, and on SIGINT/SIGTERM every
    /// child process stopped, that folder removed and exit 130/143. `server` keeps its own shutdown.
    public static func runMain(_ arguments: [String] = Array(CommandLine.arguments.dropFirst())) async -> Never {
        do {
            var command = try parseAsRoot(arguments)
            if !(command is Server) {
                RunCleanup.useOwnTemporaryFolder()
                RunCleanup.handleTerminationSignals()
            }
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            terminate(0)
        } catch let error as AirlockError {
            if !RunCleanup.isStopping { ErrorPrinter.print(error) }
            terminate(error.exitCode)
        } catch let exitCode as ExitCode {
            terminate(exitCode.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                Airlock.exit(withError: error)  // --help, --version
            }
            let message = fullMessage(for: error)
            FileHandle.standardError.write(Data((message + "\n").utf8))
            terminate(2)
        }
    }
}

/// Renders an `AirlockError` for people: `error: …` and an optional `hint: …`, on standard error.
enum ErrorPrinter {
    static func print(_ error: AirlockError) {
        var text = "error: \(error.message)\n"
        if let hint = error.hint { text += "hint: \(hint)\n" }
        FileHandle.standardError.write(Data(text.utf8))
    }
}

/// Ends the process; a free function so it is not confused with `ParsableCommand.exit(withError:)`.
/// While a SIGINT/SIGTERM is being handled, the signal's cleanup decides the exit (130/143), not the
/// command's own ending (which then usually reports the stopped children as a failure).
private func terminate(_ code: Int32) -> Never {
    while RunCleanup.isStopping { sleep(60) }
    RunCleanup.removeTemporaryFolder()
    Foundation.exit(code)
}

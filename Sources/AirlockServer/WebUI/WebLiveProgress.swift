import AirlockCore
import Foundation
import HTTPTypes
import Hummingbird

/// Live progress of one deploy as Server-Sent Events (`GET /deployments/{name}/deploys/{N}/events`), for
/// the deploy page's script (`/ui/airlock.js`), which appends each step to the page's `role="status"`
/// region and reloads the page when the deploy ends. Without JavaScript the page refreshes itself instead.
///
/// The coordinator keeps each deploy's steps in memory (`DeployCoordinator.steps(deployId:)`); the stream
/// polls it and the store every `pollInterval` and sends what is new:
/// - `event: step` — one step, `id:` its 1-based position, so a reconnecting `EventSource` (which sends
///   `Last-Event-ID`) resumes after the last step it saw instead of receiving them all again;
/// - `event: status` — the deploy's status message when it changes;
/// - `event: end` — the deploy's final status (`DEPLOYED`, `FAILED`); the stream closes after it.
///
/// Bounded: the stream closes after `streamLimit` with `event: limit` (the script reloads the page, which
/// opens a new stream), and a comment line every `keepAliveInterval` finds a disconnected client — the
/// write fails and the task ends; so does a server shutdown, which cancels the sleep.
extension WebUI {
    static let pollInterval: Duration = .milliseconds(500)
    static let keepAliveInterval: Duration = .seconds(10)
    static let streamLimit: Duration = .seconds(20 * 60)

    func deployEvents(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        _ = try await reader(request)
        let deployment = try await deployment(context)
        let deploy = try await api.deploy(reference: try context.parameters.require("ref"), in: deployment)
        let resumeAfter = request.headers[.lastEventID].flatMap { Int($0) } ?? 0
        let coordinator = api.coordinator, store = store, deployId = deploy.id
        let body = ResponseBody { writer in
            let clock = ContinuousClock()
            let deadline = clock.now.advanced(by: Self.streamLimit)
            var lastWrite = clock.now
            var sentSteps = max(0, resumeAfter)
            var sentMessage: String?
            func send(_ event: String) async throws {
                try await writer.write(ByteBuffer(string: event))
                lastWrite = clock.now
            }
            try await send("retry: 3000\n\n")
            while true {
                // The status first, then the steps: an ended deploy's last steps go out before `end`.
                let status = try await store.deploy(id: deployId)?.status ?? .failed
                let steps = await coordinator.steps(deployId: deployId)
                for (index, step) in steps.enumerated() where index >= sentSteps {
                    try await send(Self.serverSentEvent("step", step.message, id: index + 1))
                }
                sentSteps = max(sentSteps, steps.count)
                let message = await coordinator.statusMessage(deployId: deployId)
                if let message, message != sentMessage {
                    try await send(Self.serverSentEvent("status", message))
                    sentMessage = message
                }
                if status != .initialized, status != .deploying {
                    try await send(Self.serverSentEvent("end", status.rawValue))
                    break
                }
                if clock.now >= deadline {
                    try await send(Self.serverSentEvent("limit", "The stream ends after \(Self.streamLimit); reload the page to follow the deploy"))
                    break
                }
                if lastWrite.duration(to: clock.now) >= Self.keepAliveInterval { try await send(": keep-alive\n\n") }
                try await Task.sleep(for: Self.pollInterval)
            }
            try await writer.finish(nil)
        }
        // `X-Accel-Buffering: no` asks a reverse proxy (nginx) to pass events through as they come.
        return Response(status: .ok, headers: [.contentType: "text/event-stream; charset=utf-8", .xAccelBuffering: "no"], body: body)
    }

    /// One event in the `text/event-stream` format: each line of `data` on its own `data:` line (a line
    /// break inside a step would otherwise end the field), carriage returns dropped.
    static func serverSentEvent(_ event: String, _ data: String, id: Int? = nil) -> String {
        var text = id.map { "id: \($0)\n" } ?? ""
        text += "event: \(event)\n"
        for line in data.replacingOccurrences(of: "\r", with: "").split(separator: "\n", omittingEmptySubsequences: false) {
            text += "data: \(line)\n"
        }
        return text + "\n"
    }

    /// The enhancement script, served from this origin (the CSP allows `script-src 'self'`, no inline script).
    static let script = String(decoding: PackageResources.airlock_js, as: UTF8.self)
}

extension HTTPField.Name {
    static let lastEventID = Self("Last-Event-ID")!
    static let xAccelBuffering = Self("X-Accel-Buffering")!
}

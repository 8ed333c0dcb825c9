@testable import AirlockDeployer
import Foundation
import Testing

/// The pod statuses below are trimmed from what this machine's kubelet (Kubernetes 1.20, containerd) reported
/// for a pod whose image digest the registry does not have, and for one whose command cannot run.
struct PodStartFailureTests {
    static func pod(_ name: String, _ containerStatus: String, deleting: Bool = false) throws -> [String: Any] {
        let json = """
            {"metadata": {"name": "\(name)"\(deleting ? ", \"deletionTimestamp\": \"2026-12-02T12:00:00Z\"" : "")},
             "status": {"containerStatuses": [\(containerStatus)]}}
            """
        return try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
    }

    static let pullBackOff = """
        {"image": "localhost:5000/airlock/python@sha256:0000", "imageID": "", "lastState": {}, "name": "scheduler", "ready": false,
         "restartCount": 0, "started": false,
         "state": {"waiting": {"message": "Back-off pulling image \\"localhost:5000/airlock/python@sha256:0000\\"", "reason": "ImagePullBackOff"}}}
        """
    static let errImagePull = """
        {"name": "scheduler", "restartCount": 0, "lastState": {},
         "state": {"waiting": {"message": "rpc error: code = NotFound desc = failed to pull and unpack image", "reason": "ErrImagePull"}}}
        """
    static func crashLoop(restarts: Int) -> String {
        """
        {"name": "api-server", "restartCount": \(restarts), "ready": false, "started": false,
         "lastState": {"terminated": {"exitCode": 128, "reason": "StartError",
             "message": "failed to create containerd task: exec: \\"python\\": executable file not found in $PATH: unknown"}},
         "state": {"waiting": {"message": "back-off 40s restarting failed container=crash", "reason": "CrashLoopBackOff"}}}
        """
    }
    static let running = """
        {"name": "scheduler", "restartCount": 0, "ready": true, "state": {"running": {"startedAt": "2026-12-02T12:00:00Z"}}}
        """
    static let creating = """
        {"name": "scheduler", "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}}
        """

    @Test func aCrashLoopFailsOnceItRestartedEnough() throws {
        var watch = PodStartWatch(restartsThatFail: 2)
        #expect(watch.look(at: [try Self.pod("a", Self.crashLoop(restarts: 1))]) == nil, "one restart may be a blip")
        let failure = try #require(watch.look(at: [try Self.pod("a", Self.crashLoop(restarts: 3))]))
        #expect(failure.pod == "a" && failure.container == "api-server" && failure.reason == "CrashLoopBackOff")
        #expect(failure.exitCode == 128 && failure.restarts == 3)
        #expect(failure.lastRunMessage.contains("executable file not found"))
    }

    @Test func anImageThatCannotBePulledFailsWhenItIsStillStuckAtTheNextLook() throws {
        var watch = PodStartWatch(restartsThatFail: 2)
        #expect(watch.look(at: [try Self.pod("a", Self.errImagePull)]) == nil, "the first failed pull may be a blip")
        // The kubelet alternates ErrImagePull and ImagePullBackOff: still the same container, still stuck.
        let failure = try #require(watch.look(at: [try Self.pod("a", Self.pullBackOff)]))
        #expect(failure.reason == "ImagePullBackOff" && failure.container == "scheduler")
        #expect(failure.message.contains("Back-off pulling image"))
    }

    @Test func aPullThatRecoversOrAnotherPodDoesNotFail() throws {
        var watch = PodStartWatch(restartsThatFail: 2)
        #expect(watch.look(at: [try Self.pod("a", Self.pullBackOff)]) == nil)
        #expect(watch.look(at: [try Self.pod("a", Self.running)]) == nil, "pulled at the second try")
        #expect(watch.look(at: [try Self.pod("a", Self.pullBackOff)]) == nil, "not stuck at the look before")
        #expect(watch.look(at: [try Self.pod("b", Self.pullBackOff)]) == nil, "another pod (a new ReplicaSet's): its first sighting")
        #expect(watch.look(at: [try Self.pod("b", Self.pullBackOff)]) != nil)
    }

    @Test func startingAndGoingPodsAreNoFailures() throws {
        let pods = [try Self.pod("a", Self.creating), try Self.pod("b", Self.running),
                    try Self.pod("c", Self.crashLoop(restarts: 5), deleting: true)]
        #expect(PodStartFailure.find(in: pods, restartsThatFail: 2).isEmpty)
        var watch = PodStartWatch(restartsThatFail: 2)
        #expect(watch.look(at: pods) == nil && watch.look(at: pods) == nil)
    }
}

@testable import AirlockDeployer
import Foundation
import Testing

/// Pod statuses trimmed from what this machine's kubelet (Kubernetes 1.20) reported while the release was
/// scaled to 0 before a schema change: pods stayed `Terminating` for 50–70 s after their containers had
/// exited, which the stop no longer waits for.
struct PodStopTests {
    static func pod(deleting: Bool, initContainers: [String] = [], containers: [String]) throws -> [String: Any] {
        let json = """
            {"metadata": {"name": "prod-webserver-f455b7898-cbxqr"\(deleting ? ", \"deletionTimestamp\": \"2026-12-04T01:43:20Z\"" : "")},
             "status": {"phase": "Running", "initContainerStatuses": [\(initContainers.joined(separator: ","))],
                        "containerStatuses": [\(containers.joined(separator: ","))]}}
            """
        return try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
    }

    static let initDone = """
        {"name": "wait-for-airflow-migrations", "ready": true, "restartCount": 0,
         "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": "2026-12-04T01:42:36Z", "finishedAt": "2026-12-04T01:42:43Z"}}}
        """
    static let exited = """
        {"name": "webserver", "ready": false, "restartCount": 0, "started": false,
         "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": "2026-12-04T01:42:44Z", "finishedAt": "2026-12-04T01:43:14Z"}}}
        """
    static let killed = """
        {"name": "scheduler", "ready": false, "restartCount": 0,
         "state": {"terminated": {"exitCode": 137, "reason": "Error", "startedAt": "2026-12-04T01:42:44Z", "finishedAt": "2026-12-04T01:43:20Z"}}}
        """
    static let running = """
        {"name": "webserver", "ready": true, "restartCount": 0, "state": {"running": {"startedAt": "2026-12-04T01:42:44Z"}}}
        """
    /// What the kubelet reports for the rest of the pod's life once it removed the container it killed.
    static let removedAfterDeletion = """
        {"image": "localhost:5000/airlock/prod@sha256:558be0534813", "imageID": "", "name": "scheduler", "ready": false,
         "restartCount": 0, "started": false,
         "lastState": {"terminated": {"exitCode": 137, "finishedAt": null, "reason": "ContainerStatusUnknown", "startedAt": null,
             "message": "The container could not be located when the pod was deleted.  The container used to be Running"}},
         "state": {"waiting": {"reason": "PodInitializing"}}}
        """
    /// A crash loop's last run: it may run again.
    static let restarting = """
        {"name": "scheduler", "ready": false, "restartCount": 3,
         "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}},
         "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
        """
    static let waiting = """
        {"name": "webserver", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}
        """

    @Test func aDeletedPodWhoseContainersAllExitedHasStopped() throws {
        #expect(PodStop.hasStopped(try Self.pod(deleting: true, initContainers: [Self.initDone], containers: [Self.exited])))
        #expect(PodStop.hasStopped(try Self.pod(deleting: true, containers: [Self.exited, Self.killed])), "killed at the end of its grace counts too")
        #expect(PodStop.hasStopped(try Self.pod(deleting: true, initContainers: [Self.initDone], containers: [Self.removedAfterDeletion])),
                "a container the kubelet removed after the pod's deletion ran and is gone")
    }

    @Test func aContainerThatStillRunsOrMayStartKeepsThePodRunning() throws {
        #expect(!PodStop.hasStopped(try Self.pod(deleting: true, initContainers: [Self.initDone], containers: [Self.running])))
        #expect(!PodStop.hasStopped(try Self.pod(deleting: true, containers: [Self.exited, Self.running])), "one of two containers still runs")
        #expect(!PodStop.hasStopped(try Self.pod(deleting: true, initContainers: [Self.initDone], containers: [Self.waiting])),
                "a waiting container may still start")
        #expect(!PodStop.hasStopped(try Self.pod(deleting: true, containers: [])), "no status yet says nothing ran")
        #expect(!PodStop.hasStopped(try Self.pod(deleting: true, containers: [Self.restarting])), "a crash loop's container may run again")
    }

    @Test func aPodNotBeingDeletedHasNotStoppedEvenWhenItsContainersExited() throws {
        // Right after the scale to 0 the ReplicaSet has not yet deleted it: its container may be restarted.
        #expect(!PodStop.hasStopped(try Self.pod(deleting: false, containers: [Self.exited])))
    }
}

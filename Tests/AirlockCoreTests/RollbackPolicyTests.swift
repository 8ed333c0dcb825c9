import AirlockCore
import Foundation
import Testing

/// Builders shared by the rollback tests: a fixed `now`, deploys N days old, a rollback-enabled deployment.
enum RollbackFixtures {
    static let now = Date(timeIntervalSince1970: 1_760_000_000)
    static let day: TimeInterval = 86_400

    static func image(runtime: String? = "13.5.0", airflow: String = "2.10.5", python: String = "3.12",
                      lock: String = "lock-a", digest: String = "digest-a") -> DeployImage {
        DeployImage(runtimeVersion: runtime, airflowVersion: airflow, python: python, lockHash: lock, projectDigest: digest)
    }

    static func deploy(_ sequence: Int, age: TimeInterval, status: DeployStatus = .deployed, everDeployed: Bool? = nil,
                       image: DeployImage? = image(), dags: String? = "dags-1", head: String? = "5f2621c13b39",
                       dagDeployEnabled: Bool = true, artifactsStored: Bool = true, deploymentId: String = "dep-1") -> Deploy {
        Deploy(id: "d\(sequence)", deploymentId: deploymentId, sequence: sequence, type: .imageAndDag, status: status,
               description: "Deploy \(sequence)", createdAt: now.addingTimeInterval(-age), createdBy: "alice",
               image: image, dagBundleVersion: dags, dagDeployEnabled: dagDeployEnabled, dbSchemaHead: head,
               artifactsStored: artifactsStored, everDeployed: everDeployed ?? (status == .deployed))
    }

    static func deployment(current: String? = nil, rollbackEnabled: Bool = true, mechanism: DeployMechanism = .image,
                           retentionDays: Int = 90, environment: [String: String] = [:], executor: String? = nil,
                           pinned: Deployment.Pin? = nil) -> Deployment {
        Deployment(id: "dep-1", name: "prod",
                   settings: DeploymentSettings(rollbackEnabled: rollbackEnabled, deployMechanism: mechanism, retentionDays: retentionDays,
                                                environmentVariables: environment, executor: executor),
                   currentDeployId: current, pinned: pinned)
    }
}

@Suite struct RollbackPolicyTests {
    typealias F = RollbackFixtures

    // MARK: Names

    @Test(arguments: ["a", "prod", "data-team-2", "a1-b2", String(repeating: "a", count: 63)])
    func acceptsValidNames(name: String) {
        #expect(throws: Never.self) { try Deployment.validateName(name) }
    }

    @Test(arguments: ["", "1prod", "-prod", "Prod", "prod_1", "prod.1", "pröd", "prod 1", String(repeating: "a", count: 64)])
    func rejectsInvalidNames(name: String) {
        let error = #expect(throws: AirlockError.self) { try Deployment.validateName(name) }
        #expect(error?.kind == .usage)
    }

    @Test func settingsDefaultsAndPartialDecoding() throws {
        let defaults = DeploymentSettings()
        #expect(!defaults.rollbackEnabled)
        #expect(defaults.dagDeployEnabled)
        #expect(defaults.retentionDays == 90)
        #expect(defaults.deployMechanism == .image)
        let decoded = try JSONDecoder().decode(DeploymentSettings.self, from: Data(#"{"rollbackEnabled": true, "deployMechanism": "git-sync"}"#.utf8))
        #expect(decoded == DeploymentSettings(rollbackEnabled: true, deployMechanism: .gitSync))
    }

    // MARK: Rule 1

    @Test func disabledRollbackIsRefusedWithTheSettingsPath() {
        let history = [F.deploy(1, age: 2 * F.day), F.deploy(2, age: F.day)]
        let reasons = RollbackPolicy.eligibility(of: history[0], in: history, deployment: F.deployment(current: "d2", rollbackEnabled: false), now: F.now)
        #expect(reasons == [.rollbackDisabled])
        #expect(reasons.first?.message == "Rollback is disabled for this deployment. Enable it in Settings → Rollback Deploy → Enable")
    }

    // MARK: Rule 2: retention window

    static let ninetyDays: TimeInterval = 90 * 86_400

    @Test(arguments: [
        (ninetyDays, true),             // exactly 90 days: inside
        (ninetyDays + 1, false),        // one second past
        (ninetyDays - 86_400, true),
        (4 * ninetyDays, false),
    ] as [(TimeInterval, Bool)])
    func retentionBoundary(age: TimeInterval, eligible: Bool) {
        // #2 is the latest earlier deploy and is recent, so #1 gets no exemption.
        let history = [F.deploy(1, age: age), F.deploy(2, age: F.day), F.deploy(3, age: 0)]
        let reasons = RollbackPolicy.eligibility(of: history[0], in: history, deployment: F.deployment(current: "d3"), now: F.now)
        #expect(reasons == (eligible ? [] : [.outsideRetention(days: 90)]))
    }

    @Test func retentionFollowsTheSetting() {
        let history = [F.deploy(1, age: 31 * F.day), F.deploy(2, age: F.day), F.deploy(3, age: 0)]
        let deployment = F.deployment(current: "d3", retentionDays: 30)
        #expect(RollbackPolicy.eligibility(of: history[0], in: history, deployment: deployment, now: F.now) == [.outsideRetention(days: 30)])
        #expect(RollbackPolicy.eligibility(of: history[1], in: history, deployment: deployment, now: F.now).isEmpty)
    }

    @Test func onlyTheLatestEarlierDeployStaysEligiblePastTheWindow() {
        let history = [F.deploy(1, age: 200 * F.day), F.deploy(2, age: 120 * F.day), F.deploy(3, age: F.day)]
        let deployment = F.deployment(current: "d3")
        #expect(RollbackPolicy.latestEarlierDeploy(in: history, deployment: deployment)?.id == "d2")
        #expect(RollbackPolicy.eligibility(of: history[1], in: history, deployment: deployment, now: F.now).isEmpty)
        #expect(RollbackPolicy.eligibility(of: history[0], in: history, deployment: deployment, now: F.now) == [.outsideRetention(days: 90)])
    }

    @Test func latestEarlierSkipsFailedDeploys() {
        // #2 failed, so #1 is the latest earlier deploy and keeps its exemption.
        let history = [F.deploy(1, age: 200 * F.day), F.deploy(2, age: 150 * F.day, status: .failed), F.deploy(3, age: F.day)]
        let deployment = F.deployment(current: "d3")
        #expect(RollbackPolicy.latestEarlierDeploy(in: history, deployment: deployment)?.id == "d1")
        #expect(RollbackPolicy.eligibility(of: history[0], in: history, deployment: deployment, now: F.now).isEmpty)
    }

    @Test func latestEarlierIsBeforeTheCurrentNotTheNewest() {
        // #3 is a rollback to #1 and current; #4 failed afterwards. Latest earlier is #2.
        let history = [F.deploy(1, age: 300 * F.day), F.deploy(2, age: 200 * F.day), F.deploy(3, age: 100 * F.day),
                       F.deploy(4, age: F.day, status: .failed)]
        #expect(RollbackPolicy.latestEarlierDeploy(in: history, deployment: F.deployment(current: "d3"))?.id == "d2")
    }

    @Test func expiredArtifactsAreRefused() {
        let history = [F.deploy(1, age: 2 * F.day, artifactsStored: false), F.deploy(2, age: F.day)]
        #expect(RollbackPolicy.eligibility(of: history[0], in: history, deployment: F.deployment(current: "d2"), now: F.now) == [.artifactsExpired])
    }

    @Test(arguments: [(DeployStatus.failed, false), (.initialized, false), (.deploying, false), (.failed, true)])
    func targetMustHaveReachedDeployed(status: DeployStatus, everDeployed: Bool) {
        let history = [F.deploy(1, age: 2 * F.day, status: status, everDeployed: everDeployed), F.deploy(2, age: F.day)]
        let reasons = RollbackPolicy.eligibility(of: history[0], in: history, deployment: F.deployment(current: "d2"), now: F.now)
        #expect(reasons == (everDeployed ? [] : [.neverDeployed]))
    }

    // MARK: Rule 3

    @Test func currentDeployIsNeverEligible() {
        let history = [F.deploy(1, age: 2 * F.day), F.deploy(2, age: F.day)]
        #expect(RollbackPolicy.eligibility(of: history[1], in: history, deployment: F.deployment(current: "d2"), now: F.now) == [.isCurrentDeploy])
    }

    @Test func noCurrentDeployMeansNothingToRollBackFrom() {
        let history = [F.deploy(1, age: 2 * F.day, status: .failed)]
        #expect(RollbackPolicy.eligibility(of: history[0], in: history, deployment: F.deployment(current: nil), now: F.now) == [.noCurrentDeploy])
    }

    @Test(arguments: [(DeployMechanism.image, true), (.dagOnly, true), (.nfs, false), (.gitSync, false)])
    func mechanism(mechanism: DeployMechanism, eligible: Bool) {
        let history = [F.deploy(1, age: 2 * F.day), F.deploy(2, age: F.day)]
        let reasons = RollbackPolicy.eligibility(of: history[0], in: history, deployment: F.deployment(current: "d2", mechanism: mechanism), now: F.now)
        #expect(reasons == (eligible ? [] : [.unsupportedMechanism(mechanism.rawValue)]))
    }

    @Test(arguments: [
        ("4.2.9", "2.2.5", false),
        ("5.0.0", "2.3.0", true),
        ("5.0.0-rc1", "2.3.0rc1", false),
        ("4.2.9", "2.3.0", false),     // runtime below 5 even if the Airflow text says otherwise
        ("5.0.0", "2.2.5", false),
        ("12.7.1", "2.10.5", true),
        ("3.2-1", "3.2.0", true),
    ] as [(String?, String, Bool)])
    func minimumRuntime(runtime: String?, airflow: String, eligible: Bool) {
        let target = F.deploy(1, age: 2 * F.day, image: F.image(runtime: runtime, airflow: airflow))
        let history = [target, F.deploy(2, age: F.day)]
        let reasons = RollbackPolicy.eligibility(of: target, in: history, deployment: F.deployment(current: "d2"), now: F.now)
        #expect(reasons == (eligible ? [] : [.belowMinimumRuntime(runtime: runtime, airflow: airflow)]))
    }

    @Test(arguments: [("2.2.5", false), ("2.3.0", true), ("2.11.0", true), ("not-a-version", false)])
    func minimumAirflowForPlainImages(airflow: String, eligible: Bool) {
        let target = F.deploy(1, age: 2 * F.day, image: F.image(runtime: nil, airflow: airflow))
        let history = [target, F.deploy(2, age: F.day)]
        let reasons = RollbackPolicy.eligibility(of: target, in: history, deployment: F.deployment(current: "d2"), now: F.now)
        #expect(reasons == (eligible ? [] : [.belowMinimumRuntime(runtime: nil, airflow: airflow)]))
    }

    @Test func targetWithoutImageIsRefused() {
        let history = [F.deploy(1, age: 2 * F.day, image: nil), F.deploy(2, age: F.day)]
        #expect(RollbackPolicy.eligibility(of: history[0], in: history, deployment: F.deployment(current: "d2"), now: F.now) == [.imageUnknown])
    }

    @Test(arguments: [
        ("13.5.0", "3.0-1", ["3.0-1"]),          // target at the low end
        ("3.1-1", "13.5.0", ["3.1-1"]),          // current at the high end
        ("3.0-5", "3.0-7", ["3.0-5", "3.0-7"]),  // both sides
        ("3.1-2", "3.2-1", []),                  // just above the range
        ("13.5.0", "3.0-1-rc1", []),             // a pre-release sorts below 3.0-1
        ("3.2-1", "3.1-2", []),
    ])
    func unsupportedPairs(current: String, target: String, refused: [String]) {
        let history = [F.deploy(1, age: 2 * F.day, image: F.image(runtime: target, airflow: "3.0.1", digest: "t")),
                       F.deploy(2, age: F.day, image: F.image(runtime: current, airflow: "3.0.2", digest: "c"))]
        let reasons = RollbackPolicy.eligibility(of: history[0], in: history, deployment: F.deployment(current: "d2"), now: F.now)
        #expect(reasons == refused.map { .unsupportedPair(runtime: $0) })
        for reason in reasons { #expect(reason.message.contains("`3.0-1` … `3.1-1`")) }
    }

    @Test func unsupportedTableIsClosedRanges() throws {
        let low = try #require(RuntimeVersion("3.0-1")), high = try #require(RuntimeVersion("3.1-1"))
        #expect(RollbackPolicy.unsupportedRuntimeRanges.contains(low...high))
        #expect(RollbackPolicy.unsupportedRange(containing: high) == low...high)
    }

    @Test func reasonsAccumulateInOrder() {
        let history = [F.deploy(1, age: 200 * F.day, status: .failed, image: F.image(runtime: "4.2.9", airflow: "2.2.5"), artifactsStored: false),
                       F.deploy(2, age: 100 * F.day), F.deploy(3, age: 0)]
        let reasons = RollbackPolicy.eligibility(of: history[0], in: history,
                                                 deployment: F.deployment(current: "d3", rollbackEnabled: false, mechanism: .nfs), now: F.now)
        #expect(reasons == [.rollbackDisabled, .unsupportedMechanism("nfs"), .neverDeployed, .artifactsExpired, .outsideRetention(days: 90),
                            .belowMinimumRuntime(runtime: "4.2.9", airflow: "2.2.5")])
    }

    @Test func deploysOfOtherDeploymentsAreIgnored() {
        let stranger = F.deploy(9, age: F.day, deploymentId: "dep-2")
        let history = [F.deploy(1, age: 200 * F.day), stranger, F.deploy(2, age: 0)]
        #expect(RollbackPolicy.latestEarlierDeploy(in: history, deployment: F.deployment(current: "d2"))?.id == "d1")
    }

    // MARK: Rule 4

    @Test(arguments: [
        ("", "descriptionMissing"),
        ("   \n\t ", "descriptionMissing"),
        (String(repeating: "x", count: 501), "descriptionTooLong"),
        ("  " + String(repeating: "é", count: 501) + " ", "descriptionTooLong"),
    ])
    func rejectsBadDescriptions(text: String, code: String) {
        let error = #expect(throws: AirlockError.self) { try RollbackPolicy.validateDescription(text) }
        let expected: RollbackIneligibility = code == "descriptionMissing" ? .descriptionMissing : .descriptionTooLong(characters: 501)
        #expect(error?.message == expected.message)
        #expect(error?.kind == .usage)
    }

    @Test(arguments: [
        ("x", "x"),
        ("  3.0.6 broke the S3 sensor \n", "3.0.6 broke the S3 sensor"),
        (String(repeating: "y", count: 500), String(repeating: "y", count: 500)),
        ("\n" + String(repeating: "y", count: 500) + "   ", String(repeating: "y", count: 500)),
    ])
    func acceptsAndTrimsDescriptions(text: String, trimmed: String) throws {
        #expect(try RollbackPolicy.validateDescription(text) == trimmed)
    }

    @Test func nilDescriptionIsMissing() {
        let error = #expect(throws: AirlockError.self) { try RollbackPolicy.validateDescription(nil) }
        #expect(error?.message.contains("description is required") == true)
    }

    // MARK: Rule 10: roles and pins

    @Test(arguments: [
        (Role.viewer, DeployType.imageAndDag, false),
        (.deployer, .imageAndDag, false),
        (.rollbackDags, .imageAndDag, false),
        (.rollbackImages, .imageAndDag, true),
        (.admin, .imageAndDag, true),
        (.viewer, .dagOnly, false),
        (.deployer, .dagOnly, false),
        (.rollbackImages, .dagOnly, false),
        (.rollbackDags, .dagOnly, true),
        (.admin, .dagOnly, true),
    ])
    func roles(role: Role, type: DeployType, allowed: Bool) {
        #expect(role.satisfies(RollbackPolicy.requiredRole(for: type)) == allowed)
    }

    @Test func roleRawValues() {
        #expect(Role.allCases.map(\.rawValue) == ["viewer", "deployer", "rollback-images", "rollback-dags", "admin"])
    }

    @Test(arguments: [(true, true, true), (true, false, false), (false, true, false), (false, false, false)])
    func pinsRefuseOnlyAutomatedDeploys(pinned: Bool, automated: Bool, refused: Bool) {
        let pin = Deployment.Pin(reason: "3.0.6 broke sensors", by: "bob", at: F.now)
        let deployment = F.deployment(current: "d2", pinned: pinned ? pin : nil)
        #expect(RollbackPolicy.deployRefusal(for: deployment, automated: automated) == (refused ? .pinned(pin) : nil))
        if refused {
            let error = #expect(throws: AirlockError.self) { try RollbackPolicy.checkDeployAllowed(deployment, automated: automated) }
            #expect(error?.message.contains("`bob`") == true)
            #expect(error?.message.contains("3.0.6 broke sensors") == true)
        } else {
            #expect(throws: Never.self) { try RollbackPolicy.checkDeployAllowed(deployment, automated: automated) }
        }
    }

    @Test func pinDoesNotBlockRollback() {
        let history = [F.deploy(1, age: 2 * F.day), F.deploy(2, age: F.day)]
        let deployment = F.deployment(current: "d2", pinned: Deployment.Pin(reason: "r", by: "bob", at: F.now))
        #expect(RollbackPolicy.eligibility(of: history[0], in: history, deployment: deployment, now: F.now).isEmpty)
    }

    // MARK: Rule 11: pruning

    @Test func prunesExpiredArtifactsButKeepsCurrentAndLatestEarlier() {
        let history = [
            F.deploy(1, age: 400 * F.day),
            F.deploy(2, age: 300 * F.day, status: .failed),
            F.deploy(3, age: 250 * F.day, artifactsStored: false),  // already pruned
            F.deploy(4, age: 200 * F.day),                          // latest earlier: kept
            F.deploy(5, age: 150 * F.day, status: .deploying),      // stuck in flight: left alone
            F.deploy(6, age: 120 * F.day),                          // current: kept
            F.deploy(7, age: 90 * F.day, status: .failed),          // exactly at the window: kept
        ]
        #expect(RollbackPolicy.prunable(history: history, deployment: F.deployment(current: "d6"), now: F.now) == ["d1", "d2"])
    }

    @Test(arguments: [(ninetyDays, []), (ninetyDays + 1, ["d1"])] as [(TimeInterval, [String])])
    func pruneBoundary(age: TimeInterval, expected: [String]) {
        let history = [F.deploy(1, age: age), F.deploy(2, age: F.day), F.deploy(3, age: 0)]
        #expect(RollbackPolicy.prunable(history: history, deployment: F.deployment(current: "d3"), now: F.now) == expected)
    }

    @Test func prunedDeploysAreNotEligibleAndKeptOnesAre() {
        let history = [F.deploy(1, age: 400 * F.day), F.deploy(2, age: 200 * F.day), F.deploy(3, age: F.day)]
        let deployment = F.deployment(current: "d3")
        let pruned = Set(RollbackPolicy.prunable(history: history, deployment: deployment, now: F.now))
        for deploy in history where deploy.id != "d3" {
            #expect(pruned.contains(deploy.id) != RollbackPolicy.isEligible(deploy, in: history, deployment: deployment, now: F.now))
        }
    }

    // MARK: Messages and encoding

    static let allReasons: [RollbackIneligibility] = [
        .rollbackDisabled, .noCurrentDeploy, .isCurrentDeploy, .neverDeployed, .artifactsExpired, .outsideRetention(days: 90),
        .imageUnknown, .belowMinimumRuntime(runtime: "4.2.9", airflow: "2.2.5"), .unsupportedMechanism("nfs"),
        .unsupportedPair(runtime: "3.0-2"), .pinned(Deployment.Pin(reason: "hotfix", by: "bob", at: Date(timeIntervalSince1970: 0))),
        .descriptionMissing, .descriptionTooLong(characters: 501), .missingPermission(.rollbackImages),
    ]

    @Test(arguments: RollbackPolicyTests.allReasons)
    func reasonsRoundTripThroughJSON(reason: RollbackIneligibility) throws {
        let data = try JSONEncoder().encode(reason)
        #expect(try JSONDecoder().decode(RollbackIneligibility.self, from: data) == reason)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["code"] as? String == reason.code)
        #expect(object["message"] as? String == reason.message)
        #expect(reason.message.first?.isUppercase == true)
    }

    @Test func messagesQuoteValues() {
        #expect(RollbackIneligibility.belowMinimumRuntime(runtime: "4.2.9", airflow: "2.2.5").message.contains("Runtime `4.2.9` (Airflow `2.2.5`)"))
        #expect(RollbackIneligibility.unsupportedMechanism("git-sync").message.contains("`git-sync`"))
        #expect(RollbackIneligibility.outsideRetention(days: 30).message.contains("30-day"))
        #expect(RollbackIneligibility.missingPermission(.rollbackDags).message.contains("`rollback-dags`"))
        #expect(Set(Self.allReasons.map(\.code)).count == Self.allReasons.count)
    }
}

import AirlockCore
import AirlockStorage
import Foundation
import Testing

/// The `DeployHistoryStore` contract, run on every store in `StoreFactory.all` (SQLite file, SQLite
/// in memory, PostgreSQL when `AIRLOCK_TEST_POSTGRES_URL` is set). Tests that need a restart or raw
/// SQL on the same database run on `StoreFactory.persistent`.
@Suite struct DeployHistoryStoreContractTests {
    typealias F = Fixtures

    /// A store with deployment `prod` and `count` deploys (`d1`…), none deployed yet.
    func seeded(_ factory: StoreFactory, deploys count: Int = 0) async throws -> StoreFixture {
        let fixture = try await factory.make(F.clock)
        try await fixture.store.createDeployment(F.deployment())
        for index in 1...max(1, count) where count > 0 {
            try await fixture.store.createDeploy(F.deploy("d\(index)"))
        }
        return fixture
    }

    // MARK: Deployments

    @Test(arguments: StoreFactory.all)
    func createsListsAndGetsDeployments(factory: StoreFactory) async throws {
        let store = try await factory.make(F.clock).store
        let staging = try await store.createDeployment(F.deployment("staging"))
        try await store.createDeployment(F.deployment("prod", rollbackEnabled: true))

        #expect(try await store.listDeployments().map(\.name) == ["prod", "staging"])
        #expect(try await store.deployment(named: "staging") == staging)
        let prod = try #require(try await store.deployment(id: "dep-prod"))
        #expect(prod.name == "prod" && prod.settings.rollbackEnabled && prod.settings.environmentVariables == ["REGION": "eu"])
        #expect(prod.currentDeployId == nil && prod.pinned == nil)
        #expect(try await store.deployment(named: "nope") == nil)
        #expect(try await store.deployment(id: "nope") == nil)
    }

    @Test(arguments: StoreFactory.all)
    func refusesDuplicateAndInvalidNames(factory: StoreFactory) async throws {
        let store = try await factory.make(F.clock).store
        try await store.createDeployment(F.deployment("prod"))
        await #expect(throws: AirlockError.usage("A deployment named `prod` already exists")) {
            try await store.createDeployment(F.deployment("prod", id: "another-id"))
        }
        await #expect(throws: AirlockError.usage("A deployment with id `dep-prod` already exists")) {
            try await store.createDeployment(Deployment(id: "dep-prod", name: "other"))
        }
        let invalid = await #expect(throws: AirlockError.self) { try await store.createDeployment(F.deployment("Prod")) }
        #expect(invalid?.kind == .usage)
        #expect(try await store.listDeployments().count == 1)
    }

    @Test(arguments: StoreFactory.all)
    func updatesSettingsWithAnAuditEvent(factory: StoreFactory) async throws {
        let store = try await factory.make(F.clock).store
        try await store.createDeployment(F.deployment())
        var settings = DeploymentSettings(rollbackEnabled: true, retentionDays: 30, environmentVariables: ["REGION": "us", "API_KEY": "s3cr3t"])
        settings.executor = "CeleryExecutor"
        let updated = try await store.updateSettings(deploymentId: "dep-prod", settings: settings, actor: "alice", requestId: "req-1")

        #expect(updated.settings == settings)
        #expect(try await store.deployment(id: "dep-prod")?.settings == settings)
        let events = try await store.auditEvents(deploymentId: "dep-prod", limit: 10)
        #expect(events.count == 1)
        let event = try #require(events.first)
        #expect(event.action == .deploymentSettings && event.actor == "alice" && event.outcome == .succeeded)
        #expect(event.requestId == "req-1" && event.at == F.now)
        let detail = try #require(event.detail)
        #expect(detail.contains("rollbackEnabled: false → true") && detail.contains("retentionDays: 90 → 30"))
        #expect(detail.contains("+API_KEY") && detail.contains("~REGION"))
        #expect(!detail.contains("s3cr3t"), "environment variable values may be secrets")

        await #expect(throws: AirlockError.notFound("No deployment with id `nope`")) {
            try await store.updateSettings(deploymentId: "nope", settings: settings, actor: "alice")
        }
        #expect(try await store.auditEvents(deploymentId: nil, limit: 10).count == 1, "a refused update writes nothing")
    }

    @Test(arguments: StoreFactory.all)
    func pinsAndUnpinsWithAuditEvents(factory: StoreFactory) async throws {
        let store = try await seeded(factory).store
        let pin = Deployment.Pin(reason: "rolled back to #3", by: "bob", at: F.now)
        #expect(try await store.setPin(deploymentId: "dep-prod", pin: pin, actor: "bob").pinned == pin)
        #expect(try await store.deployment(id: "dep-prod")?.pinned == pin)
        #expect(try await store.setPin(deploymentId: "dep-prod", pin: nil, actor: "carol").pinned == nil)
        #expect(try await store.deployment(id: "dep-prod")?.pinned == nil)
        let actions = try await store.auditEvents(deploymentId: "dep-prod", limit: 10).map(\.action)
        #expect(actions == [.deploymentUnpin, .deploymentPin])
    }

    // MARK: Deploys

    @Test(arguments: StoreFactory.all)
    func numbersDeploysFromOnePerDeployment(factory: StoreFactory) async throws {
        let store = try await seeded(factory).store
        try await store.createDeployment(F.deployment("staging"))
        var sequences: [Int] = []
        for index in 1...5 {
            var deploy = F.deploy("d\(index)")
            deploy.sequence = 42  // ignored: the store assigns it
            sequences.append(try await store.createDeploy(deploy).sequence)
        }
        #expect(sequences == [1, 2, 3, 4, 5])
        #expect(try await store.createDeploy(F.deploy("s1", deploymentId: "dep-staging")).sequence == 1)
        #expect(try await store.history(deploymentId: "dep-prod").map(\.sequence) == [5, 4, 3, 2, 1])

        let stored = try #require(try await store.deploy(id: "d2"))
        var expected = F.deploy("d2")
        expected.sequence = 2
        #expect(stored == expected, "every field round-trips")
        #expect(try await store.deploy(id: "nope") == nil)
    }

    @Test(arguments: StoreFactory.all)
    func refusesBadDeploys(factory: StoreFactory) async throws {
        let store = try await seeded(factory, deploys: 1).store
        await #expect(throws: AirlockError.usage("A deploy with id `d1` already exists")) { try await store.createDeploy(F.deploy("d1")) }
        await #expect(throws: AirlockError.notFound("No deployment with id `dep-nope`")) {
            try await store.createDeploy(F.deploy("x", deploymentId: "dep-nope"))
        }
        try await store.createDeployment(F.deployment("staging"))
        try await store.createDeploy(F.deploy("s1", deploymentId: "dep-staging"))
        let foreign = await #expect(throws: AirlockError.self) {
            try await store.createDeploy(F.deploy("d2", rollbackFrom: "d1", rollbackTo: "s1"))
        }
        #expect(foreign?.kind == .usage)
        #expect(try await store.listDeploys(deploymentId: "dep-prod", offset: 0, limit: 10).totalCount == 1)
        // The next successful deploy still gets the next number: refused ones leave no gap.
        #expect(try await store.createDeploy(F.deploy("d2")).sequence == 2)
    }

    @Test(arguments: StoreFactory.all)
    func createsDeployBatchesAllOrNothing(factory: StoreFactory) async throws {
        let store = try await seeded(factory, deploys: 2).store
        let batch = try await store.createDeploys((3...6).map { F.deploy("d\($0)") })
        #expect(batch.map(\.sequence) == [3, 4, 5, 6])
        let refused = await #expect(throws: AirlockError.self) {
            try await store.createDeploys([F.deploy("d7"), F.deploy("d8"), F.deploy("d1")])
        }
        #expect(refused?.kind == .usage)
        #expect(try await store.deploy(id: "d7") == nil, "a refused batch stores nothing")
        #expect(try await store.listDeploys(deploymentId: "dep-prod", offset: 0, limit: 1).totalCount == 6)
        #expect(try await store.createDeploys([]).isEmpty)
    }

    @Test(arguments: StoreFactory.all)
    func concurrentCreatorsGetDistinctConsecutiveSequences(factory: StoreFactory) async throws {
        let store = try await seeded(factory).store
        let sequences = try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 1...20 {
                group.addTask { try await store.createDeploy(F.deploy("c\(index)")).sequence }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(sequences.sorted() == Array(1...20))
        let history = try await store.history(deploymentId: "dep-prod")
        #expect(history.map(\.sequence) == Array((1...20).reversed()))
        #expect(Set(history.map(\.id)).count == 20)
    }

    @Test(arguments: StoreFactory.all)
    func pagesNewestFirstWithTotalCount(factory: StoreFactory) async throws {
        let store = try await seeded(factory, deploys: 23).store
        let first = try await store.listDeploys(deploymentId: "dep-prod", offset: 0, limit: 10)
        #expect(first.totalCount == 23)
        #expect(first.deploys.map(\.sequence) == Array((14...23).reversed()))
        let second = try await store.listDeploys(deploymentId: "dep-prod", offset: 10, limit: 10)
        #expect(second.deploys.map(\.sequence) == Array((4...13).reversed()))
        let last = try await store.listDeploys(deploymentId: "dep-prod", offset: 20, limit: 10)
        #expect(last.deploys.map(\.sequence) == [3, 2, 1] && last.totalCount == 23)
        let beyond = try await store.listDeploys(deploymentId: "dep-prod", offset: 23, limit: 10)
        #expect(beyond.deploys.isEmpty && beyond.totalCount == 23)
        #expect(try await store.listDeploys(deploymentId: "dep-prod", offset: 0, limit: 0).deploys.isEmpty)

        let pages = first.deploys + second.deploys + last.deploys
        #expect(pages == (try await store.history(deploymentId: "dep-prod")), "pages concatenate to the history")

        let empty = try await store.createDeployment(F.deployment("empty"))
        let none = try await store.listDeploys(deploymentId: empty.id, offset: 0, limit: 50)
        #expect(none.deploys.isEmpty && none.totalCount == 0)
        await #expect(throws: AirlockError.self) { try await store.listDeploys(deploymentId: "dep-prod", offset: -1, limit: 10) }
        await #expect(throws: AirlockError.notFound("No deployment with id `nope`")) {
            try await store.listDeploys(deploymentId: "nope", offset: 0, limit: 10)
        }
    }

    @Test(arguments: StoreFactory.all)
    func searchesFilterCountAndPageInTheStore(factory: StoreFactory) async throws {
        let fixture = try await factory.make(F.clock)
        let store = fixture.store
        try await store.createDeployment(F.deployment())
        try await store.createDeployment(F.deployment("staging"))
        var deploys: [Deploy] = []
        for index in 1...30 {
            var deploy = F.deploy("d\(index)", image: F.image(runtime: index % 3 == 0 ? "13.5.0" : nil, airflow: index <= 20 ? "2.10.5" : "3.0.6"))
            deploy.description = index % 2 == 0 ? "Nightly release \(index)" : "Hotfix \(index) for 50%_off\\sale"
            deploy.createdBy = index % 5 == 0 ? "Bob CI" : "alice"
            deploys.append(deploy)
        }
        try await store.createDeploys(deploys)
        try await store.createDeploy(F.deploy("other", deploymentId: "dep-staging"))  // same text, other deployment
        func search(_ text: String, offset: Int = 0, limit: Int = 50) async throws -> (sequences: [Int], total: Int) {
            let page = try await store.listDeploys(deploymentId: "dep-prod", offset: offset, limit: limit, search: try DeploySearch(text))
            return (page.deploys.map(\.sequence), page.totalCount)
        }
        // Description (case-insensitive substring), newest first, counted by the store.
        #expect(try await search("NIGHTLY") == (Array(stride(from: 30, through: 2, by: -2)), 15))
        // Paging a search: the count stays the number of matches.
        #expect(try await search("nightly", offset: 10, limit: 10) == ([10, 8, 6, 4, 2], 15))
        #expect(try await search("nightly", offset: 15, limit: 10) == ([], 15))
        // Actor, Airflow version, Runtime version.
        #expect(try await search("bob") == ([30, 25, 20, 15, 10, 5], 6))
        #expect(try await search("3.0.6") == (Array((21...30).reversed()), 10))
        #expect(try await search("13.5") == ([30, 27, 24, 21, 18, 15, 12, 9, 6, 3], 10))
        // `#N` is that deploy only; a bare number is the deploy and any text containing it.
        #expect(try await search("#7") == ([7], 1))
        #expect(try await search("#99") == ([], 0))
        #expect(try await search("7") == ([27, 17, 7], 3))
        // LIKE wildcards in the text are literal: `%`, `_` and `\` match themselves only.
        #expect(try await search("50%_off\\sale").total == 15)
        #expect(try await search("%").total == 15)
        #expect(try await search("_").total == 15)
        #expect(try await search("0%off").total == 0)
        #expect(try await search("Night_y").total == 0)
        #expect(try await search("no such deploy") == ([], 0))
        // Blank is no search; too long is refused.
        #expect(try DeploySearch("  ") == nil && (try DeploySearch(nil)) == nil)
        #expect(throws: AirlockError.self) { try DeploySearch(String(repeating: "x", count: DeploySearch.maximumLength + 1)) }
        await #expect(throws: AirlockError.notFound("No deployment with id `nope`")) {
            try await store.listDeploys(deploymentId: "nope", offset: 0, limit: 10, search: try DeploySearch("x"))
        }
    }

    /// The search index (schema v3: SQLite FTS5 trigram, PostgreSQL pg_trgm) gives what the scan gives:
    /// each query is checked against the rule computed here in Swift from the history itself (description,
    /// actor, versions: substring, ASCII case folded; `#N`/a bare number), on text of three or more characters
    /// (indexed), shorter (scanned), non-ASCII, quotes and FTS syntax. And it follows writes at once: a new
    /// deploy, a changed description and a finalized image are found by the very next search.
    @Test(arguments: StoreFactory.all)
    func indexedSearchMatchesTheRuleAndFollowsWrites(factory: StoreFactory) async throws {
        let store = try await factory.make(F.clock).store
        try await store.createDeployment(F.deployment())
        try await store.createDeployment(F.deployment("staging"))
        let descriptions = ["Rollout of \"quoted\" AND NOT OR* text", "Ünïcode Straße release", "ÜNÏCODE STRASSE", "near(abc def)",
                            "plain nightly", "Nightly NIGHTLY nightly", "x", "ab", "- ^ : {col}"]
        var deploys: [Deploy] = []
        for (index, description) in descriptions.enumerated() {
            var deploy = F.deploy("s\(index + 1)", image: index % 4 == 3 ? nil
                                  : F.image(runtime: index % 2 == 0 ? "13.5.0" : nil, airflow: index < 5 ? "2.10.5" : "3.0.6"))
            deploy.description = description
            deploy.createdBy = index % 3 == 0 ? "Carol CI" : "dave"
            deploys.append(deploy)
        }
        try await store.createDeploys(deploys)
        try await store.createDeploy(F.deploy("other", deploymentId: "dep-staging"))
        func search(_ text: String) async throws -> [Int] {
            let page = try await store.listDeploys(deploymentId: "dep-prod", offset: 0, limit: 500, search: try DeploySearch(text))
            #expect(page.totalCount == page.deploys.count, "count and page agree for `\(text)`")
            return page.deploys.map(\.sequence)
        }
        /// The rule, from the history: a substring of the description, actor or a version with ASCII letters'
        /// case folded (SQLite's `LIKE`), or with all of Unicode's (PostgreSQL's `ILIKE`).
        func expected(_ text: String, foldingUnicode: Bool) async throws -> [Int] {
            let search = try #require(try DeploySearch(text))
            func fold(_ value: String) -> String {
                foldingUnicode ? value.lowercased() : String(value.unicodeScalars.map { ("A"..."Z").contains($0) ? Character(String($0).lowercased()) : Character($0) })
            }
            return try await store.history(deploymentId: "dep-prod").filter { deploy in
                if deploy.sequence == search.sequence { return true }
                guard search.matchesText else { return false }
                let fields = [deploy.description, deploy.createdBy, deploy.image?.airflowVersion, deploy.image?.runtimeVersion].compactMap { $0 }
                return fields.contains { fold($0).contains(fold(search.text)) }
            }.map(\.sequence)
        }
        let queries = ["nightly", "NIGHT", "ly n", "\"quoted\"", "AND NOT", "OR*", "near(abc", "{col}", "- ^", "Straße", "ünïcode", "Ünïcode",
                       "STRASSE", "13.5", "2.10", "3.0.6", "carol", "Dave", "ab", "x", "7", "#3", "s3", "no such text", "e r", "nig\u{0}htly"]
        for query in queries {
            let found = try await search(query)
            let ascii = try await expected(query, foldingUnicode: false)
            if store is SQLiteDeployHistoryStore {
                #expect(found == ascii, "`\(query)`")
            } else {
                // ILIKE folds what the database's locale folds: at least ASCII, at most all of Unicode.
                let unicode = try await expected(query, foldingUnicode: true)
                #expect(Set(ascii).isSubset(of: Set(found)) && Set(found).isSubset(of: Set(unicode)), "`\(query)`: \(found)")
                #expect(found == found.sorted(by: >))
            }
        }
        #expect(try await search("Ünïcode").contains(2))

        // Writes are searchable at once: a new deploy, a changed description, an image set later.
        try await store.createDeploy({ var deploy = F.deploy("s10", image: nil); deploy.description = "fresh canary build"; return deploy }())
        #expect(try await search("canary") == [10])
        var changed = try #require(try await store.deploy(id: "s5"))
        changed.description = "renamed to zebra"
        try await store.updateDeploy(changed)
        #expect(try await search("zebra") == [5])
        #expect(try await search("plain nightly") == [])
        changed.image = F.image(runtime: "42.1.0", airflow: "2.11.0")
        try await store.updateDeploy(changed)
        #expect(try await search("42.1") == [5])
        #expect(try await search("2.11.0") == [5])
    }

    /// Upgrading a history written before the search index (schema v2): v3 indexes the deploys already
    /// there, so they are found through the index (on SQLite a search of 3+ characters reads only the index:
    /// an empty index would find nothing), and later writes are indexed too.
    @Test(arguments: StoreFactory.persistent)
    func searchIndexMigrationIndexesTheExistingHistory(factory: StoreFactory) async throws {
        let fixture = try await factory.make(F.clock)
        let raw = try #require(fixture.raw), reopen = try #require(fixture.reopen)
        let sqlite = fixture.store is SQLiteDeployHistoryStore
        // Back to v2: the index gone and v3 not applied.
        let undo = sqlite
            ? ["DROP TRIGGER deploys_search_insert", "DROP TRIGGER deploys_search_update", "DROP TRIGGER deploys_search_delete",
               "DROP TABLE deploys_search", "DROP TABLE deploys_search_keys", "DELETE FROM grdb_migrations WHERE identifier = 'v3'"]
            : ["DROP INDEX deploys_search_description, deploys_search_created_by, deploys_search_airflow_version, deploys_search_runtime_version",
               "DELETE FROM airlock_migrations WHERE identifier = 'v3'"]
        for statement in undo { try await raw.execute(statement) }
        try await fixture.store.createDeployment(F.deployment())
        for index in 1...5 {
            var deploy = F.deploy("old\(index)")
            deploy.description = index % 2 == 0 ? "Quarterly Upgrade \(index)" : "routine \(index)"
            try await fixture.store.createDeploy(deploy)
        }
        let store = try await reopen()
        #expect(try await store.schemaVersion() == 5)
        let indexObjects = sqlite
            ? try await raw.strings("SELECT name FROM sqlite_master WHERE name IN ('deploys_search', 'deploys_search_keys', 'deploys_search_insert', 'deploys_search_update', 'deploys_search_delete') ORDER BY name")
            : try await raw.strings("SELECT indexname FROM pg_indexes WHERE indexname LIKE 'deploys_search%' ORDER BY indexname")
        #expect(indexObjects == (sqlite ? ["deploys_search", "deploys_search_delete", "deploys_search_insert", "deploys_search_keys", "deploys_search_update"]
                                        : ["deploys_search_airflow_version", "deploys_search_created_by", "deploys_search_description",
                                           "deploys_search_runtime_version"]))
        func search(_ text: String) async throws -> [Int] {
            try await store.listDeploys(deploymentId: "dep-prod", offset: 0, limit: 50, search: try DeploySearch(text)).deploys.map(\.sequence)
        }
        #expect(try await search("quarterly upgrade") == [4, 2])
        #expect(try await search("ROUTINE") == [5, 3, 1])
        var deploy = F.deploy("new")
        deploy.description = "Quarterly upgrade, again"
        try await store.createDeploy(deploy)
        #expect(try await search("quarterly upgrade") == [6, 4, 2])
    }

    @Test(arguments: StoreFactory.all)
    func updatesDeploys(factory: StoreFactory) async throws {
        let store = try await seeded(factory, deploys: 2).store
        var deploy = try #require(try await store.deploy(id: "d1"))
        deploy.status = .deploying
        deploy.description = "Now deploying"
        deploy.dbSchemaHead = "29ce7909c52b"
        #expect(try await store.updateDeploy(deploy) == deploy)
        #expect(try await store.deploy(id: "d1") == deploy)

        deploy.status = .deployed
        let deployed = try await store.updateDeploy(deploy)
        #expect(deployed.everDeployed, "DEPLOYED implies everDeployed")
        deploy.status = .failed
        deploy.everDeployed = false
        #expect(try await store.updateDeploy(deploy).everDeployed, "everDeployed never goes back")

        var moved = deploy
        moved.sequence = 7
        let refused = await #expect(throws: AirlockError.self) { try await store.updateDeploy(moved) }
        #expect(refused?.kind == .usage)
        await #expect(throws: AirlockError.notFound("No deploy with id `nope`")) { try await store.updateDeploy(F.deploy("nope")) }
    }

    /// What the target ran (issue #13 items 3, 4): stored with the deploy, replaced by `updateDeploy`, set alone by
    /// `recordTargetRun` (whatever the status, leaving every other field), and `null` in JSON when absent.
    @Test(arguments: StoreFactory.all)
    func keepsWhatTheTargetRan(factory: StoreFactory) async throws {
        let store = try await seeded(factory, deploys: 2).store
        let image = "localhost:5000/airlock/prod@sha256:" + String(repeating: "ab", count: 32)
        var withFacts = F.deploy("d3")
        withFacts.targetImage = image
        withFacts.helmRevision = 7
        let created = try await store.createDeploy(withFacts)
        #expect(try await store.deploy(id: "d3") == created)
        #expect(created.targetImage == image && created.helmRevision == 7)

        var deploying = try #require(try await store.deploy(id: "d1"))
        #expect(deploying.targetImage == nil && deploying.helmRevision == nil)
        deploying.status = .deploying
        deploying = try await store.updateDeploy(deploying)
        let recorded = try await store.recordTargetRun(deployId: "d1", targetImage: image, helmRevision: 1)
        var expected = deploying
        expected.targetImage = image
        expected.helmRevision = 1
        #expect(recorded == expected)
        #expect(try await store.deploy(id: "d1") == expected)
        // A deploy that failed after Helm made its revision keeps it; marking it changes only its status.
        let failed = try await store.markFailed(deployId: "d1", reason: "scheduler never became healthy", actor: "ci")
        #expect(failed.status == .failed && failed.helmRevision == 1 && failed.targetImage == image)
        // Helm made no revision: nil is stored as nil, the image stays known.
        let noRevision = try await store.recordTargetRun(deployId: "d2", targetImage: image, helmRevision: nil)
        #expect(noRevision.targetImage == image && noRevision.helmRevision == nil)
        let deployed = try await store.markDeployed(deployId: "d2", deploymentId: "dep-prod", dbSchemaHead: nil, actor: "ci")
        #expect(deployed.targetImage == image)
        #expect(try await store.history(deploymentId: "dep-prod").map(\.helmRevision) == [7, nil, 1])
        var cleared = try #require(try await store.deploy(id: "d3"))
        cleared.targetImage = nil
        cleared.helmRevision = nil
        #expect(try await store.updateDeploy(cleared) == cleared)
        await #expect(throws: AirlockError.notFound("No deploy with id `ghost`")) {
            try await store.recordTargetRun(deployId: "ghost", targetImage: image, helmRevision: 1)
        }

        let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(try #require(try await store.deploy(id: "d1")))) as? [String: Any]
        #expect(json?["targetImage"] as? String == image && json?["helmRevision"] as? Int == 1)
        let absent = try JSONSerialization.jsonObject(with: JSONEncoder().encode(cleared)) as? [String: Any]
        #expect(absent?["targetImage"] is NSNull && absent?["helmRevision"] is NSNull, "absent values are null, not missing")
    }

    /// Upgrading a history written before v4: the deploys already there keep every field and have no target facts
    /// (NULL: unknown), and the new columns are written from then on.
    @Test(arguments: StoreFactory.persistent)
    func targetRunMigrationKeepsTheExistingHistory(factory: StoreFactory) async throws {
        let fixture = try await seeded(factory, deploys: 3)
        let raw = try #require(fixture.raw), reopen = try #require(fixture.reopen)
        try await fixture.store.markDeployed(deployId: "d2", deploymentId: "dep-prod", dbSchemaHead: "head-2", actor: "ci")
        let before = try await fixture.store.history(deploymentId: "dep-prod")
        // Back to v3: the columns (and v5's sessions table) gone, v4 and v5 not applied.
        let bookkeeping = fixture.store is SQLiteDeployHistoryStore ? "grdb_migrations" : "airlock_migrations"
        for statement in ["DROP TABLE web_sessions", "ALTER TABLE deploys DROP COLUMN target_image", "ALTER TABLE deploys DROP COLUMN helm_revision",
                          "DELETE FROM \(bookkeeping) WHERE identifier IN ('v4', 'v5')"] {
            try await raw.execute(statement)
        }
        #expect(try await raw.strings(raw.appliedMigrationsSQL).sorted() == ["v1", "v2", "v3"])
        let store = try await reopen()
        #expect(try await store.schemaVersion() == 5)
        #expect(try await store.history(deploymentId: "dep-prod") == before)
        #expect(before.allSatisfy { $0.targetImage == nil && $0.helmRevision == nil })
        let recorded = try await store.recordTargetRun(deployId: "d3", targetImage: "registry:5000/prod@sha256:00", helmRevision: 3)
        #expect(recorded.helmRevision == 3)
        #expect(try await reopen().deploy(id: "d3") == recorded)
    }

    // MARK: Deployed / failed

    @Test(arguments: StoreFactory.all)
    func markDeployedMovesCurrentAndAuditsTogether(factory: StoreFactory) async throws {
        let store = try await seeded(factory, deploys: 2).store
        let first = try await store.markDeployed(deployId: "d1", deploymentId: "dep-prod", dbSchemaHead: "head-1", actor: "ci", requestId: "r1")
        #expect(first.status == .deployed && first.everDeployed && first.dbSchemaHead == "head-1")
        #expect(try await store.deployment(id: "dep-prod")?.currentDeployId == "d1")

        let second = try await store.markDeployed(deployId: "d2", deploymentId: "dep-prod", dbSchemaHead: nil, actor: "ci")
        #expect(second.dbSchemaHead == "5f2621c13b39", "a nil head keeps the recorded one")
        #expect(try await store.deployment(id: "dep-prod")?.currentDeployId == "d2")

        let events = try await store.auditEvents(deploymentId: "dep-prod", limit: 10)
        #expect(events.map(\.afterDeployId) == ["d2", "d1"])
        #expect(events.map(\.beforeDeployId) == ["d1", nil])
        #expect(events[0].action == .deployCreate && events[0].outcome == .succeeded && events[0].actor == "ci")
        #expect(events[0].afterRuntime == "Runtime 13.5.0 (Airflow 2.10.5)" && events[0].beforeRuntime == events[0].afterRuntime)
        #expect(events[1].requestId == "r1")

        // A rollback deploy is audited as a rollback.
        try await store.createDeploy(F.deploy("d3", image: F.image(runtime: "12.0.0", airflow: "2.9.3"), rollbackFrom: "d2", rollbackTo: "d1"))
        try await store.markDeployed(deployId: "d3", deploymentId: "dep-prod", dbSchemaHead: nil, actor: "bob")
        let rollback = try #require(try await store.auditEvents(deploymentId: "dep-prod", limit: 1).first)
        #expect(rollback.action == .deployRollback && rollback.afterRuntime == "Runtime 12.0.0 (Airflow 2.9.3)")
    }

    @Test(arguments: StoreFactory.all)
    func refusedMarkDeployedChangesNothing(factory: StoreFactory) async throws {
        let store = try await seeded(factory, deploys: 1).store
        try await store.markDeployed(deployId: "d1", deploymentId: "dep-prod", dbSchemaHead: nil, actor: "ci")
        try await store.createDeployment(F.deployment("staging"))
        try await store.createDeploy(F.deploy("s1", deploymentId: "dep-staging"))
        let auditBefore = try await store.auditEvents(deploymentId: nil, limit: 100)

        await #expect(throws: AirlockError.notFound("No deploy with id `ghost`")) {
            try await store.markDeployed(deployId: "ghost", deploymentId: "dep-prod", dbSchemaHead: nil, actor: "ci")
        }
        let foreign = await #expect(throws: AirlockError.self) {
            try await store.markDeployed(deployId: "s1", deploymentId: "dep-prod", dbSchemaHead: nil, actor: "ci")
        }
        #expect(foreign?.kind == .usage)
        #expect(try await store.deployment(id: "dep-prod")?.currentDeployId == "d1")
        #expect(try await store.deploy(id: "s1")?.status == .initialized)
        #expect(try await store.auditEvents(deploymentId: nil, limit: 100) == auditBefore)
    }

    @Test(arguments: StoreFactory.all)
    func markFailedKeepsThePreviousCurrentDeploy(factory: StoreFactory) async throws {
        let store = try await seeded(factory, deploys: 2).store
        try await store.markDeployed(deployId: "d1", deploymentId: "dep-prod", dbSchemaHead: nil, actor: "ci")
        let failed = try await store.markFailed(deployId: "d2", reason: "scheduler never became healthy", actor: "ci", requestId: "r9")
        #expect(failed.status == .failed && !failed.everDeployed)
        #expect(try await store.deployment(id: "dep-prod")?.currentDeployId == "d1")
        let event = try #require(try await store.auditEvents(deploymentId: "dep-prod", limit: 1).first)
        #expect(event.outcome == .failed && event.detail == "scheduler never became healthy" && event.requestId == "r9")
        #expect(event.beforeDeployId == "d1" && event.afterDeployId == "d2")
    }

    // MARK: Audit

    @Test(arguments: StoreFactory.all)
    func auditIsAppendOnlyAndNewestFirst(factory: StoreFactory) async throws {
        let store = try await seeded(factory).store
        try await store.createDeployment(F.deployment("staging"))
        // Timestamps out of order on purpose: the append order decides.
        for (index, deploymentId) in ["dep-prod", "dep-staging", "dep-prod", "dep-prod"].enumerated() {
            try await store.appendAudit(AuditEvent(id: "e\(index)", at: F.now.addingTimeInterval(Double(-index)), actor: "alice",
                                                   action: .deployPrune, deploymentId: deploymentId, outcome: .succeeded))
        }
        try await store.appendAudit(AuditEvent(id: "global", at: F.now, actor: "admin", action: "token.create", deploymentId: nil,
                                               outcome: .refused, requestId: "r", detail: "no"))
        #expect(try await store.auditEvents(deploymentId: "dep-prod", limit: 10).map(\.id) == ["e3", "e2", "e0"])
        #expect(try await store.auditEvents(deploymentId: "dep-prod", limit: 2).map(\.id) == ["e3", "e2"])
        #expect(try await store.auditEvents(deploymentId: nil, limit: 10).map(\.id) == ["global", "e3", "e2", "e1", "e0"])
        let global = try #require(try await store.auditEvents(deploymentId: nil, limit: 1).first)
        #expect(global == AuditEvent(id: "global", at: F.now, actor: "admin", action: "token.create", deploymentId: nil,
                                     outcome: .refused, requestId: "r", detail: "no"))

        await #expect(throws: AirlockError.self) {
            try await store.appendAudit(AuditEvent(id: "e0", at: F.now, actor: "mallory", action: .deployPrune, deploymentId: "dep-prod",
                                                   outcome: .succeeded))
        }
        #expect(try await store.auditEvents(deploymentId: nil, limit: 10).first { $0.id == "e0" }?.actor == "alice")
    }

    @Test(arguments: StoreFactory.all)
    func auditEventsAreFilteredAndPagedByTheStore(factory: StoreFactory) async throws {
        let store = try await seeded(factory).store
        try await store.createDeployment(F.deployment("staging"))
        // 12 events: prod/staging alternate, alice/bob every third, three actions in turn.
        let actions: [AuditEvent.Action] = [.deployCreate, .deploymentSettings, "token.create"]
        for index in 0..<12 {
            try await store.appendAudit(AuditEvent(id: "e\(index)", at: F.now, actor: index % 3 == 0 ? "bob" : "alice",
                                                   action: actions[index % 3], deploymentId: index == 11 ? nil : (index.isMultiple(of: 2) ? "dep-prod" : "dep-staging"),
                                                   outcome: .succeeded))
        }
        let all = try await store.auditEvents(AuditQuery(limit: 5))
        #expect(all.totalCount == 12 && all.events.map(\.id) == ["e11", "e10", "e9", "e8", "e7"])
        let second = try await store.auditEvents(AuditQuery(offset: 5, limit: 5))
        #expect(second.totalCount == 12 && second.events.map(\.id) == ["e6", "e5", "e4", "e3", "e2"])
        #expect(try await store.auditEvents(AuditQuery(offset: 12, limit: 5)) == AuditPage(events: [], totalCount: 12))

        let prod = try await store.auditEvents(AuditQuery(deploymentId: "dep-prod"))
        #expect(prod.events.map(\.id) == ["e10", "e8", "e6", "e4", "e2", "e0"] && prod.totalCount == 6)
        let bob = try await store.auditEvents(AuditQuery(actor: "bob"))
        #expect(bob.events.map(\.id) == ["e9", "e6", "e3", "e0"])
        let settings = try await store.auditEvents(AuditQuery(action: .deploymentSettings))
        #expect(settings.events.map(\.id) == ["e10", "e7", "e4", "e1"])
        let combined = try await store.auditEvents(AuditQuery(deploymentId: "dep-prod", actor: "alice", action: .deploymentSettings, limit: 1))
        #expect(combined.events.map(\.id) == ["e10"] && combined.totalCount == 2)
        let none = try await store.auditEvents(AuditQuery(actor: "mallory' OR '1'='1"))
        #expect(none == AuditPage(events: [], totalCount: 0), "filters are values, never SQL")
        await #expect(throws: AirlockError.self) { try await store.auditEvents(AuditQuery(offset: -1)) }
    }

    // MARK: Tokens

    @Test(arguments: StoreFactory.all)
    func tokenUseIsRecordedAtMostOncePerResolution(factory: StoreFactory) async throws {
        let clock = MovableClock(F.now)
        let store = try await factory.make { clock.now }.store
        let (secret, record) = try await store.createToken(name: "ci", role: .deployer)
        #expect(try await store.token(matching: secret)?.lastUsedAt == F.now)
        clock.advance(by: APIToken.lastUsedResolution / 2)
        #expect(try await store.token(matching: secret)?.lastUsedAt == F.now, "within the resolution nothing is written")
        #expect(try await store.listTokens().first { $0.id == record.id }?.lastUsedAt == F.now)
        clock.advance(by: APIToken.lastUsedResolution)
        let later = F.now.addingTimeInterval(APIToken.lastUsedResolution * 1.5)
        #expect(try await store.token(matching: secret)?.lastUsedAt == later)
        #expect(try await store.listTokens().first { $0.id == record.id }?.lastUsedAt == later)
    }

    /// A clock a test moves forward.
    final class MovableClock: @unchecked Sendable {
        private let lock = NSLock()
        private var date: Date
        init(_ date: Date) { self.date = date }
        var now: Date { lock.withLock { date } }
        func advance(by seconds: TimeInterval) { lock.withLock { date = date.addingTimeInterval(seconds) } }
    }

    // MARK: Tokens

    @Test(arguments: StoreFactory.all)
    func tokensMatchTheirSecretUntilRevoked(factory: StoreFactory) async throws {
        let store = try await factory.make(F.clock).store
        let (secret, record) = try await store.createToken(name: "ci-prod", role: .deployer)
        let (otherSecret, other) = try await store.createToken(name: "alice", role: .admin)
        #expect(secret.hasPrefix(APIToken.secretPrefix) && secret.count == APIToken.secretPrefix.count + 64)
        #expect(secret != otherSecret)
        #expect(record.name == "ci-prod" && record.role == .deployer && record.createdAt == F.now && record.revokedAt == nil)

        #expect(record.lastUsedAt == nil, "a new token was never used")
        var used = record, otherUsed = other
        used.lastUsedAt = F.now
        otherUsed.lastUsedAt = F.now
        #expect(try await store.token(matching: secret) == used, "a match records the use")
        #expect(try await store.token(matching: otherSecret) == otherUsed)
        #expect(try await store.token(matching: secret + "x") == nil)
        #expect(try await store.token(matching: SHA256.hex(secret)) == nil, "the stored hash is not a credential")
        #expect(try await store.token(matching: "") == nil)
        #expect(Set(try await store.listTokens()) == [used, otherUsed])

        let revoked = try await store.revokeToken(id: record.id)
        #expect(revoked.revokedAt == F.now && revoked.isRevoked && revoked.lastUsedAt == F.now)
        #expect(try await store.token(matching: secret) == nil)
        #expect(try await store.token(matching: otherSecret) == otherUsed)
        #expect(try await store.revokeToken(id: record.id) == revoked, "revoking twice keeps the first time")
        #expect(try await store.listTokens().count == 2, "revoked tokens stay listed")
        await #expect(throws: AirlockError.notFound("No API token with id `nope`")) { try await store.revokeToken(id: "nope") }
        await #expect(throws: AirlockError.self) { try await store.createToken(name: "  ", role: .viewer) }
    }

    @Test(arguments: StoreFactory.all)
    func webSessionsLastUntilTheyExpireEndOrTheirTokenIsRevoked(factory: StoreFactory) async throws {
        let store = try await factory.make(F.clock).store
        let (_, alice) = try await store.createToken(name: "alice", role: .admin)
        let (_, bob) = try await store.createToken(name: "bob", role: .viewer)
        func session(_ id: String, _ token: APIToken, expires: Date = F.now.addingTimeInterval(3600)) -> WebSessionRecord {
            WebSessionRecord(idSHA256: SHA256.hex(id), tokenId: token.id, csrf: "csrf-\(id)", createdAt: F.now, expiresAt: expires)
        }
        try await store.createWebSession(session("a1", alice))
        try await store.createWebSession(session("a2", alice))
        try await store.createWebSession(session("b1", bob))
        #expect(try await store.webSession(idSHA256: SHA256.hex("a1"), now: F.now) == session("a1", alice))
        #expect(try await store.webSession(idSHA256: SHA256.hex("nope"), now: F.now) == nil)
        #expect(try await store.webSession(idSHA256: SHA256.hex("a1"), now: F.now.addingTimeInterval(3600)) == nil, "expired")

        try await store.deleteWebSession(idSHA256: SHA256.hex("a1"))
        #expect(try await store.webSession(idSHA256: SHA256.hex("a1"), now: F.now) == nil, "signed out")
        #expect(try await store.webSession(idSHA256: SHA256.hex("a2"), now: F.now) != nil, "another session of the token stays")
        try await store.deleteWebSession(idSHA256: SHA256.hex("a1"))

        try await store.revokeToken(id: alice.id)
        #expect(try await store.webSession(idSHA256: SHA256.hex("a2"), now: F.now) == nil, "revoking the token ends its sessions")
        #expect(try await store.webSession(idSHA256: SHA256.hex("b1"), now: F.now) != nil)
        try await store.deleteWebSessions(tokenId: bob.id)
        #expect(try await store.webSession(idSHA256: SHA256.hex("b1"), now: F.now) == nil)

        // Creating a session removes the expired ones (the table does not grow with every sign-in ever made).
        let (_, carol) = try await store.createToken(name: "carol", role: .viewer)
        try await store.createWebSession(session("c-old", carol, expires: F.now))
        try await store.createWebSession(session("c-new", carol))
        #expect(try await store.webSession(idSHA256: SHA256.hex("c-old"), now: F.now.addingTimeInterval(-1)) == nil, "deleted, not just hidden")
        #expect(try await store.webSession(idSHA256: SHA256.hex("c-new"), now: F.now) != nil)
    }

    @Test(arguments: StoreFactory.persistent)
    func tokenSecretsNeverReachTheDisk(factory: StoreFactory) async throws {
        let fixture = try await factory.make(F.clock)
        let raw = try #require(fixture.raw)
        let (secret, _) = try await fixture.store.createToken(name: "ci", role: .deployer)
        #expect(try await fixture.store.token(matching: secret) != nil)

        let all = try await raw.everything()
        #expect(!all.isEmpty)
        #expect(all.range(of: Data(secret.utf8)) == nil, "the plain secret is not stored")
        let randomPart = String(secret.dropFirst(APIToken.secretPrefix.count))
        #expect(all.range(of: Data(randomPart.utf8)) == nil)
        #expect(all.range(of: Data(SHA256.hex(secret).utf8)) != nil, "its SHA-256 is what is stored")
    }

    // MARK: Artifacts

    @Test(arguments: StoreFactory.all)
    func marksArtifactsExpiredAndKeepsRecords(factory: StoreFactory) async throws {
        let store = try await seeded(factory, deploys: 3).store
        #expect(try await store.markArtifactsExpired(deployIds: ["d1", "d2", "d2", "ghost"]) == 2)
        let history = try await store.history(deploymentId: "dep-prod")
        #expect(history.map(\.id) == ["d3", "d2", "d1"], "records stay")
        #expect(history.map(\.artifactsStored) == [true, false, false])
        #expect(try await store.markArtifactsExpired(deployIds: ["d1"]) == 0)
        #expect(try await store.markArtifactsExpired(deployIds: []) == 0)
    }

    // MARK: Persistence and migrations

    @Test(arguments: StoreFactory.persistent)
    func dataSurvivesReopening(factory: StoreFactory) async throws {
        let fixture = try await seeded(factory, deploys: 3)
        try await fixture.store.markDeployed(deployId: "d2", deploymentId: "dep-prod", dbSchemaHead: nil, actor: "ci")
        let (secret, token) = try await fixture.store.createToken(name: "ci", role: .deployer)
        let history = try await fixture.store.history(deploymentId: "dep-prod")
        let audit = try await fixture.store.auditEvents(deploymentId: nil, limit: 10)

        let reopen = try #require(fixture.reopen)
        let reopened = try await reopen()
        #expect(try await reopened.deployment(id: "dep-prod")?.currentDeployId == "d2")
        #expect(try await reopened.history(deploymentId: "dep-prod") == history)
        #expect(try await reopened.auditEvents(deploymentId: nil, limit: 10) == audit)
        #expect(try await reopened.token(matching: secret)?.id == token.id)
        #expect(try await reopened.createDeploy(F.deploy("d4")).sequence == 4)
    }

    @Test(arguments: StoreFactory.all)
    func migrationsAreVersioned(factory: StoreFactory) async throws {
        let fixture = try await factory.make(F.clock)
        #expect(try await fixture.store.schemaVersion() == 5)
        guard let reopen = fixture.reopen, let raw = fixture.raw else { return }
        try await fixture.store.createDeployment(F.deployment())
        // v1 creates tables without IF NOT EXISTS: running it twice would fail, so opening twice proves it runs once.
        for _ in 0..<2 {
            let store = try await reopen()
            #expect(try await store.schemaVersion() == 5)
            var applied: [String]?
            if let sqlite = store as? SQLiteDeployHistoryStore { applied = try await sqlite.appliedMigrations() }
            if let postgres = store as? PostgresDeployHistoryStore { applied = try await postgres.appliedMigrations() }
            #expect(applied == ["v1", "v2", "v3", "v4", "v5"])
        }
        #expect(try await raw.strings(raw.appliedMigrationsSQL) == ["v1", "v2", "v3", "v4", "v5"])
        #expect(try await fixture.store.deployment(id: "dep-prod") != nil, "reopening keeps the data")
    }

    @Test(arguments: StoreFactory.persistent)
    func schemaRefusesInconsistentWrites(factory: StoreFactory) async throws {
        let fixture = try await seeded(factory, deploys: 1)
        try await fixture.store.createDeployment(F.deployment("staging"))
        try await fixture.store.createDeploy(F.deploy("s1", deploymentId: "dep-staging"))
        let raw = try #require(fixture.raw)

        // A deployment cannot point at a deploy that does not exist, nor at another deployment's deploy.
        await #expect(throws: (any Error).self) {
            try await raw.execute("UPDATE deployments SET current_deploy_id = 'ghost' WHERE id = 'dep-prod'")
        }
        await #expect(throws: (any Error).self) {
            try await raw.execute("UPDATE deployments SET current_deploy_id = 's1' WHERE id = 'dep-prod'")
        }
        // Two deploys of one deployment cannot share a sequence number.
        await #expect(throws: (any Error).self) {
            try await raw.execute("UPDATE deploys SET sequence = 1, deployment_id = 'dep-prod' WHERE id = 's1'")
        }
        // Audit rows cannot be changed or removed.
        try await fixture.store.appendAudit(AuditEvent(id: "e1", at: F.now, actor: "alice", action: .deployPrune, deploymentId: "dep-prod",
                                                       outcome: .succeeded))
        await #expect(throws: (any Error).self) { try await raw.execute("UPDATE audit_events SET actor = 'mallory'") }
        await #expect(throws: (any Error).self) { try await raw.execute("DELETE FROM audit_events") }
        #expect(try await fixture.store.auditEvents(deploymentId: nil, limit: 10).map(\.actor) == ["alice"])
        #expect(try await fixture.store.deployment(id: "dep-prod")?.currentDeployId == nil)
    }

    @Test(arguments: StoreFactory.persistent)
    func pagingStaysCorrectWithSequenceGaps(factory: StoreFactory) async throws {
        // Deploys are never deleted through the store; a manual repair could still leave a gap, and
        // paging must then fall back from the range seek to LIMIT/OFFSET.
        let fixture = try await seeded(factory, deploys: 12)
        let raw = try #require(fixture.raw)
        try await raw.execute("DELETE FROM deploys WHERE id IN ('d5', 'd9')")
        let page = try await fixture.store.listDeploys(deploymentId: "dep-prod", offset: 2, limit: 5)
        #expect(page.totalCount == 10)
        #expect(page.deploys.map(\.sequence) == [10, 8, 7, 6, 4])
        #expect(try await fixture.store.createDeploy(F.deploy("d13")).sequence == 13)
    }
}

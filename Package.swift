// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "Airlock",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "airlock", targets: ["airlock"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // SQLite for deploy history (system libsqlite3); PostgreSQL support comes with the server.
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        // The deploy-history server (REST API, later the web UI).
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        // PostgreSQL deploy history (`airlock server --database-url postgresql://…`).
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        // The web UI's HTML templates (Mustache; HTML-escapes every `{{value}}`).
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
    ],
    targets: [
        // Python packaging standards (PEP 440/503/508, requirements.txt). Pure, no I/O.
        .target(name: "PythonPackaging"),
        // Airflow domain logic: projects, runtime catalog, pinned sets, diff, conflicts, reports. Pure, no I/O;
        // its data tables (Resources/) are compiled in.
        .target(name: "AirlockCore", dependencies: ["PythonPackaging"], exclude: ["Resources/README.md"],
                resources: [.embedInCode("Resources/airflow_db_revision_heads.csv"),
                            .embedInCode("Resources/airflow_releases_pypi.csv"),
                            .embedInCode("Resources/airflow_rules_from_ruff_snapshots.csv"),
                            .embedInCode("Resources/airflow_shims_2.10.5.csv"),
                            .embedInCode("Resources/airflow_shims_3.0.6.csv"),
                            .embedInCode("Resources/airflow_shims_3.1.0.csv"),
                            .embedInCode("Resources/runtime-feed-snapshot.json"),
                            .embedInCode("Resources/runtime_providers.csv"),
                            .embedInCode("Resources/upgrade_check_1_10_renamed_classes.csv")]),
        // Everything that touches the outside world: files, processes (uv), HTTP, caches.
        .target(name: "AirlockToolchain", dependencies: ["AirlockCore"], resources: [.embedInCode("Python/Resources/dag_parse_harness.py")]),
        // `airlock upgrade-test`: resolves both sides, compares, checks conflicts, writes the report folder.
        .target(name: "AirlockUpgradeTest", dependencies: ["AirlockToolchain"]),
        // Deploy history storage: the `DeployHistoryStore` contract, its SQLite and PostgreSQL implementations.
        // (AirlockToolchain for `FileLock`: the SQLite store's per-deployment locks.)
        .target(name: "AirlockStorage", dependencies: [
            "AirlockCore", "AirlockToolchain", .product(name: "GRDB", package: "GRDB.swift"), .product(name: "PostgresNIO", package: "postgres-nio"),
        ]),
        // Deploys and rollbacks on the local target: releases, DB backups/migrations, switch, recovery.
        .target(name: "AirlockDeployer", dependencies: ["AirlockStorage", "AirlockLocalTarget", "AirlockUpgradeTest", "AirlockImages"]),
        // `airlock server`: the REST API over the deploy-history store, with token roles.
        // Its web UI (WebUI/): templates and the stylesheet are compiled in.
        .target(name: "AirlockServer", dependencies: [
            "AirlockDeployer", .product(name: "Hummingbird", package: "hummingbird"), .product(name: "Mustache", package: "swift-mustache"),
        ], resources: [.embedInCode("WebUI/Resources/layout.mustache"), .embedInCode("WebUI/Resources/signin.mustache"),
                       .embedInCode("WebUI/Resources/deployments.mustache"), .embedInCode("WebUI/Resources/deployment.mustache"), .embedInCode("WebUI/Resources/history_rows.mustache"),
                       .embedInCode("WebUI/Resources/deploy.mustache"), .embedInCode("WebUI/Resources/settings.mustache"),
                       .embedInCode("WebUI/Resources/rollback.mustache"), .embedInCode("WebUI/Resources/message.mustache"), .embedInCode("WebUI/Resources/time.mustache"),
                       .embedInCode("WebUI/Resources/airlock.css"), .embedInCode("WebUI/Resources/airlock.js"),
                       .embedInCode("WebUI/Resources/audit.mustache"), .embedInCode("WebUI/Resources/tokens.mustache"), .embedInCode("WebUI/Resources/revoke_token.mustache"), .embedInCode("WebUI/Resources/compare.mustache"), .embedInCode("WebUI/Resources/pin.mustache")]),
        // Command-line layer: flags, progress, rendering, exit codes.
        .target(name: "AirlockCLI", dependencies: [
            "AirlockUpgradeTest", "AirlockServer",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "airlock", dependencies: ["AirlockCLI"]),
        // Helpers shared by the test targets (paths, scratch folders, the built binary, a loopback HTTP server).
        .target(name: "AirlockTestSupport", dependencies: ["AirlockToolchain"]),
        // The local target: supervises a deployment's Airflow processes and its metadata DB.
        .target(name: "AirlockLocalTarget", dependencies: ["AirlockToolchain"]),
        // Images without a Docker engine: deterministic OCI layers, image config/manifest, pushes over the
        // OCI distribution API. zlib and libcrypto (system libraries) do the gzip and SHA-256 of layer blobs.
        .systemLibrary(name: "CImageCodecs"),
        .target(name: "AirlockImages", dependencies: ["AirlockToolchain", "CImageCodecs"]),
        // The driver of benchmarks/images (not a product of the package).
        .executableTarget(name: "ImagesBenchmark", dependencies: ["AirlockImages"], path: "benchmarks/ImagesBenchmark"),

        .testTarget(name: "PythonPackagingTests", dependencies: ["PythonPackaging"], resources: [.copy("Fixtures")]),
        .testTarget(name: "AirlockCoreTests", dependencies: ["AirlockCore"]),
        .testTarget(name: "AirlockToolchainTests", dependencies: ["AirlockToolchain", "AirlockTestSupport"]),
        .testTarget(name: "AirlockUpgradeTestTests", dependencies: ["AirlockUpgradeTest", "AirlockTestSupport"]),
        .testTarget(name: "AirlockCLITests", dependencies: ["AirlockCLI", "AirlockServer", "AirlockStorage", "AirlockLocalTarget", "AirlockTestSupport"]),
        .testTarget(name: "AirlockStorageTests", dependencies: ["AirlockStorage", "AirlockTestSupport", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "AirlockDeployerTests", dependencies: ["AirlockDeployer", "AirlockLocalTarget", "AirlockStorage", "AirlockTestSupport", "AirlockToolchain"]),
        .testTarget(name: "AirlockLocalTargetTests", dependencies: ["AirlockLocalTarget", "AirlockTestSupport"]),
        .testTarget(name: "AirlockImagesTests", dependencies: ["AirlockImages", "AirlockTestSupport"]),
    ]
)

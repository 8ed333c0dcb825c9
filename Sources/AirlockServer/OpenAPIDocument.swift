import AirlockCore
import AirlockStorage
import Foundation

/// The OpenAPI 3.1 description of the REST API, served at `/api/v1/openapi.json`: the contract.
///
/// It lists every status each operation can answer and every field's constraints; the server checks
/// the same constraints with the same constants (patterns, ranges), routes unknown methods to 405 from
/// its `paths`, and `scripts/schemathesis` (part of `scripts/test`) holds the two together.
/// Request fields are never nullable: an optional field is left out.
enum OpenAPIDocument {
    /// `Deployment.validateName` as a pattern.
    static let deploymentNamePattern = "^[a-z][a-z0-9-]{0,62}$"
    /// A PostgreSQL URL with a user, host, port and database but no password (`validateMetadataDatabaseUrl` accepts all of these).
    static let metadataDatabaseUrlPattern = "^postgres(ql)?://([A-Za-z0-9_-]+@)?[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[1-9][0-9]{0,4})?/[A-Za-z0-9_-]+$"
    /// `KubernetesSettings.validate`'s rules, published as they are matched.
    static let kubernetesLabelPattern = KubernetesSettings.labelPattern
    static let kubernetesRegistryPattern = KubernetesSettings.registryPattern
    static let kubernetesTextPattern = KubernetesSettings.textPattern
    /// `KubernetesSettings.valueKeys`: one optional property per role, with the pattern its key must match.
    static let kubernetesValueKeysProperties = KubernetesSettings.ValueRole.allCases.map { role in
        #""\#(role.rawValue)": {"type": "string", "pattern": "\#(jsonEscaped(KubernetesSettings.valueKeyPattern(for: role)))", "description": "default \#(role.officialChartKey)\#(role.mayBeUnset ? "; empty: not set" : "")"}"#
    }.joined(separator: ", ")
    /// A pattern as a JSON string's contents (its backslashes doubled).
    static func jsonEscaped(_ pattern: String) -> String { pattern.replacingOccurrences(of: "\\", with: "\\\\") }
    /// Artifact digests: sha256, lowercase hex.
    static let digestPattern = "^[0-9a-f]{64}$"
    static let offsets = 0...1_000_000_000
    static let deployPageLimits = 1...500
    static let auditLimits = 1...1000
    static let retentionDays = DeploymentSettings.retentionDaysRange
    static let startTimeout = KubernetesSettings.startTimeoutRange
    /// `EnvironmentVariables.validateKey` as JSON Schema: the POSIX name of at most 256 characters, not one the deploy owns.
    static let environmentVariableNameSchema = #"{"pattern": "^[A-Za-z_][A-Za-z0-9_]{0,255}$", "not": {"enum": ["#
        + EnvironmentVariables.deployOwnedKeys.sorted().map { "\"\($0)\"" }.joined(separator: ", ") + "]}}"
    /// `EnvironmentVariables.validateValue`: at most 32 KiB (in UTF-8 bytes, which JSON Schema cannot say), no NUL, not the mask.
    static let environmentVariableValueSchema = #"{"type": "string", "maxLength": \#(EnvironmentVariables.maximumValueBytes), "pattern": "^[^\u0000]*$", "not": {"const": ""#
        + EnvironmentVariables.maskedValue + #""}, "description": "at most 32 KiB in UTF-8, no NUL"}"#
    static let maximumDescriptionLength = RollbackPolicy.maximumDescriptionLength

    /// 400 unless `value` matches `pattern` (one of the patterns above) whole.
    static func require(_ value: String, matches pattern: String, field: String) throws {
        guard let regex = try? NSRegularExpression(pattern: pattern),
              regex.firstMatch(in: value, range: NSRange(value.startIndex..., in: value))?.range == NSRange(value.startIndex..., in: value),
              !value.hasSuffix("\n") else {
            throw JSONRequestBody.invalid("`\(field)` must match \(pattern)")
        }
    }

    /// 400 when a description is longer than the limit, counted in Unicode code points as JSON Schema's `maxLength` is.
    static func requireDescription(_ description: String?) throws {
        guard let description, description.unicodeScalars.count > maximumDescriptionLength else { return }
        throw JSONRequestBody.invalid("`description` is longer than \(maximumDescriptionLength) characters")
    }

    /// The routes the document lists, for 405 answers.
    static let routes = APIRoutes(openAPI: json, prefix: "/api/v1")

    /// The JSON request body schema of each operation (`POST /deployments`), for refusing unknown fields.
    static let requestShapes: [String: RequestShape] = {
        let document = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any]
        var shapes: [String: RequestShape] = [:]
        for (path, operations) in document?["paths"] as? [String: [String: Any]] ?? [:] {
            for (method, operation) in operations {
                guard let body = (operation as? [String: Any])?["requestBody"] as? [String: Any],
                      let content = body["content"] as? [String: Any],
                      let schema = (content["application/json"] as? [String: Any])?["schema"] as? [String: Any],
                      let shape = RequestShape(schema: schema, schemas: (document?["components"] as? [String: Any])?["schemas"] as? [String: Any] ?? [:]) else { continue }
                shapes["\(method.uppercased()) \(path)"] = shape
            }
        }
        return shapes
    }()

    static let json = #"""
{
  "openapi": "3.1.0",
  "info": {"title": "Airlock deploy history API", "version": "1",
    "description": "Mutating calls need a bearer token with the role named in their description. Reads are open on loopback and need a token (any role) when the server listens beyond loopback or runs with --require-token-for-reads. Request bodies are JSON objects of at most 64 KB (413 beyond), without null values: leave optional fields out. Methods a path does not list answer 405 with Allow. Deploys and rollbacks build their environments with the constraints source the server was started with (airlock server --constraints-source); a request cannot name one."},
  "servers": [{"url": "/api/v1"}],
  "components": {
    "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
    "schemas": {
      "Error": {"type": "object", "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}}},
      "DeploymentSettings": {"type": "object",
        "required": ["rollbackEnabled", "dagDeployEnabled", "deployMechanism", "retentionDays", "environmentVariables", "executor", "metadataDatabaseUrl"],
        "properties": {
          "rollbackEnabled": {"type": "boolean"}, "dagDeployEnabled": {"type": "boolean"},
          "deployMechanism": {"type": "string", "enum": ["image", "dag-only", "nfs", "git-sync"]},
          "retentionDays": {"type": "integer", "minimum": \#(retentionDays.lowerBound), "maximum": \#(retentionDays.upperBound)},
          "environmentVariables": {"type": "object", "additionalProperties": {"type": "string"}},
          "executor": {"type": ["string", "null"]}, "metadataDatabaseUrl": {"type": ["string", "null"]},
          "kubernetes": {"anyOf": [{"$ref": "#/components/schemas/KubernetesSettings"}, {"type": "null"}]}}},
      "KubernetesSettings": {"type": "object", "additionalProperties": false,
        "required": ["kubeconfig", "namespace", "release", "chart", "registry"],
        "description": "Where a Kubernetes deployment is installed with Helm; files are on the server's machine",
        "properties": {
          "kubeconfig": {"type": "string", "pattern": "\#(jsonEscaped(kubernetesTextPattern))"}, "context": {"type": "string", "pattern": "\#(jsonEscaped(kubernetesTextPattern))"},
          "namespace": {"type": "string", "pattern": "\#(kubernetesLabelPattern)"},
          "release": {"type": "string", "pattern": "\#(kubernetesLabelPattern)"},
          "chart": {"type": "string", "pattern": "\#(jsonEscaped(kubernetesTextPattern))", "description": "A chart folder or archive, or REPO/CHART"},
          "chartVersion": {"type": "string", "pattern": "\#(jsonEscaped(kubernetesTextPattern))"},
          "registry": {"type": "string", "pattern": "\#(jsonEscaped(kubernetesRegistryPattern))", "description": "HOST[:PORT]/REPOSITORY the images are pushed to"},
          "valuesFile": {"type": "string", "pattern": "\#(jsonEscaped(kubernetesTextPattern))", "description": "A Helm values file, passed as written"},
          "baseImage": {"type": "string", "pattern": "\#(jsonEscaped(kubernetesTextPattern))"},
          "startTimeoutSeconds": {"type": "integer", "minimum": \#(startTimeout.lowerBound), "maximum": \#(startTimeout.upperBound),
            "description": "how long Helm waits for the pods to be ready, and a schema Job to finish, before the deploy fails and the previous one is put back; default \#(KubernetesSettings.defaultStartTimeout)"},
          "valueKeys": {"type": "object", "additionalProperties": false, "properties": {\#(kubernetesValueKeysProperties)},
            "description": "The chart's value keys for what a deploy sets, where they differ from the official chart's; two roles on one key, or one key inside another, fail the deploy"}}},
      "Pin": {"type": "object", "required": ["reason", "by", "at"], "properties": {
        "reason": {"type": "string"}, "by": {"type": "string"}, "at": {"type": "string", "format": "date-time"}}},
      "Deployment": {"type": "object", "required": ["id", "name", "target", "settings", "currentDeployId", "pinned"], "properties": {
        "id": {"type": "string"}, "name": {"type": "string", "pattern": "\#(deploymentNamePattern)"},
        "target": {"type": "string", "enum": ["local", "kubernetes"]},
        "settings": {"$ref": "#/components/schemas/DeploymentSettings"},
        "currentDeployId": {"type": ["string", "null"]},
        "pinned": {"anyOf": [{"$ref": "#/components/schemas/Pin"}, {"type": "null"}]}}},
      "DeployImage": {"type": "object", "required": ["runtimeVersion", "airflowVersion", "python", "lockHash", "projectDigest"], "properties": {
        "runtimeVersion": {"type": ["string", "null"]}, "airflowVersion": {"type": "string"}, "python": {"type": "string"},
        "lockHash": {"type": "string"}, "projectDigest": {"type": "string"}}},
      "GitMetadata": {"type": "object", "required": ["commit", "branch", "author", "remote"], "properties": {
        "commit": {"type": "string"}, "branch": {"type": ["string", "null"]}, "author": {"type": ["string", "null"]},
        "remote": {"type": ["string", "null"]}}},
      "Deploy": {"type": "object",
        "required": ["id", "deploymentId", "sequence", "type", "status", "description", "createdAt", "createdBy", "image",
                     "dagBundleVersion", "dagDeployEnabled", "dbSchemaHead", "git", "rollbackFromId", "rollbackToId",
                     "artifactsStored", "everDeployed", "targetImage", "helmRevision", "runtimeVersion", "airflowVersion"],
        "properties": {
          "id": {"type": "string"}, "deploymentId": {"type": "string"}, "sequence": {"type": "integer", "minimum": 1},
          "type": {"type": "string", "enum": ["IMAGE_AND_DAG", "IMAGE_ONLY", "DAG_ONLY"]},
          "status": {"type": "string", "enum": ["INITIALIZED", "DEPLOYING", "DEPLOYED", "FAILED"]},
          "description": {"type": "string"}, "createdAt": {"type": "string", "format": "date-time"}, "createdBy": {"type": "string"},
          "image": {"anyOf": [{"$ref": "#/components/schemas/DeployImage"}, {"type": "null"}]},
          "dagBundleVersion": {"type": ["string", "null"]}, "dagDeployEnabled": {"type": "boolean"},
          "dbSchemaHead": {"type": ["string", "null"]},
          "git": {"anyOf": [{"$ref": "#/components/schemas/GitMetadata"}, {"type": "null"}]},
          "rollbackFromId": {"type": ["string", "null"]}, "rollbackToId": {"type": ["string", "null"]},
          "artifactsStored": {"type": "boolean"}, "everDeployed": {"type": "boolean"},
          "targetImage": {"type": ["string", "null"], "description": "the OCI image reference by digest the target ran (Kubernetes); null on the local target"},
          "helmRevision": {"type": ["integer", "null"], "minimum": 1, "description": "the Helm revision this deploy made (Kubernetes), also when it failed; null on the local target"},
          "runtimeVersion": {"type": ["string", "null"]}, "airflowVersion": {"type": ["string", "null"]}}},
      "DeployView": {"allOf": [{"$ref": "#/components/schemas/Deploy"}, {"type": "object", "required": ["statusMessage", "steps", "stepStartedAt"], "properties": {
        "statusMessage": {"type": ["string", "null"], "description": "the step a running deploy is at, or why it failed"},
        "steps": {"type": "array", "items": {"type": "string"}, "description": "every step so far, oldest first (empty after a server restart)"},
        "stepStartedAt": {"type": "array", "items": {"type": "string", "format": "date-time"}, "description": "when each of steps began, same order, UTC with milliseconds; a step lasted until the next began"}}}]},
      "AuditEvent": {"type": "object",
        "required": ["id", "at", "actor", "action", "deploymentId", "beforeDeployId", "afterDeployId", "beforeRuntime", "afterRuntime",
                     "outcome", "requestId", "detail"],
        "properties": {
          "id": {"type": "string"}, "at": {"type": "string", "format": "date-time"}, "actor": {"type": "string"},
          "action": {"type": "string"}, "deploymentId": {"type": ["string", "null"]}, "beforeDeployId": {"type": ["string", "null"]},
          "afterDeployId": {"type": ["string", "null"]}, "beforeRuntime": {"type": ["string", "null"]}, "afterRuntime": {"type": ["string", "null"]},
          "outcome": {"type": "string", "enum": ["succeeded", "failed", "refused"]}, "requestId": {"type": ["string", "null"]},
          "detail": {"type": ["string", "null"]}}},
      "RollbackPlan": {"type": "object",
        "required": ["deploymentId", "fromDeploy", "toDeploy", "newSequence", "type", "runtimeChange", "database", "skippedDeploys",
                     "rolledBack", "notRolledBack", "warnings", "dryRun", "requiredRole"],
        "properties": {
          "deploymentId": {"type": "string"}, "fromDeploy": {"$ref": "#/components/schemas/Deploy"},
          "toDeploy": {"$ref": "#/components/schemas/Deploy"}, "newSequence": {"type": "integer", "minimum": 1},
          "type": {"type": "string", "enum": ["IMAGE_AND_DAG", "IMAGE_ONLY", "DAG_ONLY"]},
          "runtimeChange": {"type": "object"}, "packageDiff": {"type": "array", "items": {"type": "object"}},
          "files": {"type": "object"}, "database": {"type": "object"}, "skippedDeploys": {"type": "integer", "minimum": 0},
          "rolledBack": {"type": "array", "items": {"type": "string"}}, "notRolledBack": {"type": "array", "items": {"type": "string"}},
          "warnings": {"type": "array", "items": {"type": "string"}}, "description": {"type": "string"}, "dryRun": {"type": "boolean"},
          "requiredRole": {"type": "string", "enum": ["viewer", "deployer", "rollback-images", "rollback-dags", "admin"]}}},
      "Role": {"type": "string", "enum": ["viewer", "deployer", "rollback-images", "rollback-dags", "admin"]},
      "APIToken": {"type": "object", "required": ["id", "name", "role", "createdAt", "revokedAt", "lastUsedAt"], "properties": {
        "id": {"type": "string"}, "name": {"type": "string"}, "role": {"$ref": "#/components/schemas/Role"},
        "createdAt": {"type": "string", "format": "date-time"}, "revokedAt": {"type": ["string", "null"], "format": "date-time"},
        "lastUsedAt": {"type": ["string", "null"], "format": "date-time", "description": "the last API call or sign-in with it, to within a minute"}}},
      "UploadResult": {"type": "object", "required": ["kind", "digest", "files", "stored"], "properties": {
        "kind": {"type": "string", "enum": ["image", "dags"]}, "digest": {"type": "string", "pattern": "\#(digestPattern)"},
        "files": {"type": "integer", "minimum": 0}, "stored": {"type": "boolean", "description": "false: the same content was stored already"}}}
    },
    "parameters": {
      "name": {"name": "name", "in": "path", "required": true, "description": "the deployment's name",
               "schema": {"type": "string", "pattern": "\#(deploymentNamePattern)"}},
      "ref": {"name": "ref", "in": "path", "required": true, "description": "N, #N (percent-encoded) or a deploy id",
              "schema": {"type": "string", "minLength": 1}},
      "auditActor": {"name": "actor", "in": "query", "description": "only this actor's events (a token name)", "schema": {"type": "string"}},
      "auditAction": {"name": "action", "in": "query", "description": "only this action (deploy.rollback, deployment.settings, token.revoke, …)", "schema": {"type": "string"}},
      "auditOffset": {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": \#(offsets.lowerBound), "maximum": \#(offsets.upperBound), "default": 0}},
      "auditLimit": {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": \#(auditLimits.lowerBound), "maximum": \#(auditLimits.upperBound), "default": 100}}
    },
    "responses": {
      "BadRequest": {"description": "A parameter or the body breaks this document (invalid_request, invalid_body, invalid_bundle)",
                     "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "Unauthorized": {"description": "No token, or not a valid one", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "Forbidden": {"description": "The token's role is not enough", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "NotFound": {"description": "No such deployment or deploy", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "Conflict": {"description": "The call conflicts with the deployment's state", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "AuditEvents": {"description": "A page of events and how many match the filters", "content": {"application/json": {"schema": {
        "type": "object", "required": ["events", "offset", "limit", "totalCount"], "properties": {
          "events": {"type": "array", "items": {"$ref": "#/components/schemas/AuditEvent"}},
          "offset": {"type": "integer", "minimum": 0}, "limit": {"type": "integer", "minimum": 1}, "totalCount": {"type": "integer", "minimum": 0}}}}}},
      "TooLarge": {"description": "The body is over its limit (64 KB for JSON; 256 MB image, 64 MB DAG bundles)",
                   "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    }
  },
  "paths": {
    "/health": {
      "get": {"summary": "The server answers and is ready: 503 while it repairs what a previous server left after a restart (reads are served meanwhile; deploys asked for run after the repair)", "security": [{}, {"bearer": []}], "responses": {
        "200": {"description": "Up", "content": {"application/json": {"schema": {"type": "object", "required": ["status"],
          "properties": {"status": {"type": "string", "enum": ["ok"]}}}}}},
        "401": {"$ref": "#/components/responses/Unauthorized"},
        "503": {"description": "Starting: repairing deployments after a restart", "headers": {"Retry-After": {"schema": {"type": "integer"}}},
          "content": {"application/json": {"schema": {"type": "object", "required": ["status", "detail"],
            "properties": {"status": {"type": "string", "enum": ["starting"]}, "detail": {"type": "string"}}}}}}}}
    },
    "/openapi.json": {
      "get": {"summary": "This document", "security": [{}, {"bearer": []}], "responses": {
        "200": {"description": "The OpenAPI document", "content": {"application/json": {"schema": {"type": "object", "required": ["openapi", "paths"]}}}},
        "401": {"$ref": "#/components/responses/Unauthorized"}}}
    },
    "/deployments": {
      "get": {"summary": "List deployments", "security": [{}, {"bearer": []}], "responses": {
        "200": {"description": "Deployments, by name", "content": {"application/json": {"schema": {"type": "object", "required": ["deployments"],
          "properties": {"deployments": {"type": "array", "items": {"$ref": "#/components/schemas/Deployment"}}}}}}},
        "401": {"$ref": "#/components/responses/Unauthorized"}}},
      "post": {"summary": "Create a deployment (admin)", "security": [{"bearer": []}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "additionalProperties": false, "required": ["name"], "properties": {
          "name": {"type": "string", "pattern": "\#(deploymentNamePattern)"},
          "target": {"type": "string", "enum": ["local", "kubernetes"]},
          "metadataDatabaseUrl": {"type": "string", "pattern": "\#(metadataDatabaseUrlPattern)",
                                  "description": "PostgreSQL for Airflow's metadata DB, without a password (~/.pgpass or PGPASSWORD); absent: SQLite"},
          "kubernetes": {"$ref": "#/components/schemas/KubernetesSettings", "description": "Required with target kubernetes (which also needs metadataDatabaseUrl)"}},
          "anyOf": [
            {"required": ["target", "kubernetes", "metadataDatabaseUrl"], "properties": {"target": {"const": "kubernetes"}}},
            {"not": {"anyOf": [{"required": ["kubernetes"]}, {"required": ["target"], "properties": {"target": {"const": "kubernetes"}}}]}}]}}}},
        "responses": {"201": {"description": "Created", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Deployment"}}}},
                      "400": {"$ref": "#/components/responses/BadRequest"}, "401": {"$ref": "#/components/responses/Unauthorized"},
                      "403": {"$ref": "#/components/responses/Forbidden"},
                      "409": {"$ref": "#/components/responses/Conflict", "description": "deployment_exists: the name is taken"},
                      "413": {"$ref": "#/components/responses/TooLarge"}}}
    },
    "/deployments/{name}": {
      "parameters": [{"$ref": "#/components/parameters/name"}],
      "get": {"summary": "Get a deployment", "security": [{}, {"bearer": []}], "responses": {
        "200": {"description": "The deployment", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Deployment"}}}},
        "401": {"$ref": "#/components/responses/Unauthorized"}, "404": {"$ref": "#/components/responses/NotFound"}}}
    },
    "/deployments/{name}/settings": {
      "parameters": [{"$ref": "#/components/parameters/name"}],
      "patch": {"summary": "Update settings: rollback, DAG deploy, retention, deploy mechanism, environment variables, Kubernetes start timeout (admin)", "security": [{"bearer": []}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "additionalProperties": false, "properties": {
          "rollbackEnabled": {"type": "boolean"}, "dagDeployEnabled": {"type": "boolean"},
          "retentionDays": {"type": "integer", "minimum": \#(retentionDays.lowerBound), "maximum": \#(retentionDays.upperBound),
            "description": "days a deploy stays eligible for rollback (the retention window; default \#(DeploymentSettings.defaultRetentionDays)); past it only the latest earlier deploy stays eligible"},
          "deployMechanism": {"type": "string", "enum": ["image", "dag-only", "nfs", "git-sync"]},
          "environmentVariables": {"type": "object", "description": "added or changed; values of secret-looking names are masked in responses",
            "propertyNames": \#(environmentVariableNameSchema), "additionalProperties": \#(environmentVariableValueSchema)},
          "removeEnvironmentVariables": {"type": "array", "description": "names to remove (before the additions); a name that is not set is ignored",
            "items": {"type": "string"}},
          "startTimeoutSeconds": {"type": "integer", "minimum": \#(startTimeout.lowerBound), "maximum": \#(startTimeout.upperBound),
            "description": "Kubernetes deployments only (409 otherwise): how long Helm waits for the pods, and a schema Job, at the next deploys"}}}}}},
        "responses": {"200": {"description": "The deployment", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Deployment"}}}},
                      "400": {"$ref": "#/components/responses/BadRequest"}, "401": {"$ref": "#/components/responses/Unauthorized"},
                      "403": {"$ref": "#/components/responses/Forbidden"}, "404": {"$ref": "#/components/responses/NotFound"},
                      "409": {"$ref": "#/components/responses/Conflict", "description": "not_kubernetes: startTimeoutSeconds for a deployment of another target"},
                      "413": {"$ref": "#/components/responses/TooLarge"}}}
    },
    "/deployments/{name}/deploys": {
      "parameters": [{"$ref": "#/components/parameters/name"}],
      "get": {"summary": "Deploy history, newest first", "security": [{}, {"bearer": []}],
        "parameters": [{"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": \#(offsets.lowerBound), "maximum": \#(offsets.upperBound), "default": 0}},
                       {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": \#(deployPageLimits.lowerBound), "maximum": \#(deployPageLimits.upperBound), "default": 50}},
                       {"name": "search", "in": "query", "description": "`#N` for deploy N; other text matches description, actor, Airflow or Runtime version (substring, case-insensitive; a bare number also matches deploy N). `totalCount` counts the matches.", "schema": {"type": "string", "maxLength": \#(DeploySearch.maximumLength)}}],
        "responses": {"200": {"description": "A page of deploys",
          "content": {"application/json": {"schema": {"type": "object", "required": ["deploys", "offset", "limit", "totalCount"], "properties": {
            "deploys": {"type": "array", "items": {"$ref": "#/components/schemas/Deploy"}},
            "offset": {"type": "integer", "minimum": 0}, "limit": {"type": "integer", "minimum": 1}, "totalCount": {"type": "integer", "minimum": 0}}}}}},
          "400": {"$ref": "#/components/responses/BadRequest"}, "401": {"$ref": "#/components/responses/Unauthorized"},
          "404": {"$ref": "#/components/responses/NotFound"}}},
      "post": {"summary": "Create a deploy (deployer), then upload its artifacts and finalize it", "security": [{"bearer": []}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "additionalProperties": false, "properties": {
          "type": {"type": "string", "enum": ["IMAGE_AND_DAG", "IMAGE_ONLY", "DAG_ONLY"], "default": "IMAGE_AND_DAG"},
          "description": {"type": "string", "maxLength": \#(maximumDescriptionLength)},
          "git": {"type": "object", "additionalProperties": false, "properties": {"commit": {"type": "string"}, "branch": {"type": "string"},
                                                   "author": {"type": "string"}, "remote": {"type": "string"}}}}}}}},
        "responses": {"201": {"description": "The deploy, INITIALIZED", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Deploy"}}}},
                      "400": {"$ref": "#/components/responses/BadRequest"}, "401": {"$ref": "#/components/responses/Unauthorized"},
                      "403": {"$ref": "#/components/responses/Forbidden"}, "404": {"$ref": "#/components/responses/NotFound"},
                      "409": {"$ref": "#/components/responses/Conflict", "description": "deployment_pinned or dag_deploy_disabled"},
                      "413": {"$ref": "#/components/responses/TooLarge"}}}
    },
    "/deployments/{name}/artifacts/{kind}": {
      "parameters": [{"$ref": "#/components/parameters/name"},
                     {"name": "kind", "in": "path", "required": true, "schema": {"type": "string", "enum": ["image", "dags"]}}],
      "put": {"summary": "Upload a bundle (ustar; deployer); stored once per content digest", "security": [{"bearer": []}],
        "requestBody": {"required": true, "content": {"application/x-tar": {"schema": {"type": "string", "format": "binary"}}}},
        "responses": {"201": {"description": "Stored", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/UploadResult"}}}},
                      "200": {"description": "Already stored", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/UploadResult"}}}},
                      "400": {"$ref": "#/components/responses/BadRequest"}, "401": {"$ref": "#/components/responses/Unauthorized"},
                      "403": {"$ref": "#/components/responses/Forbidden"}, "404": {"$ref": "#/components/responses/NotFound"},
                      "413": {"$ref": "#/components/responses/TooLarge"}}}
    },
    "/deployments/{name}/deploys/{ref}": {
      "parameters": [{"$ref": "#/components/parameters/name"}, {"$ref": "#/components/parameters/ref"}],
      "get": {"summary": "One deploy, with statusMessage (its current step, or why it failed) and steps", "security": [{}, {"bearer": []}],
        "responses": {"200": {"description": "The deploy", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DeployView"}}}},
                      "401": {"$ref": "#/components/responses/Unauthorized"}, "404": {"$ref": "#/components/responses/NotFound"}}}
    },
    "/deployments/{name}/deploys/{ref}/finalize": {
      "parameters": [{"$ref": "#/components/parameters/name"}, {"$ref": "#/components/parameters/ref"}],
      "post": {"summary": "Run the deploy with the uploaded artifacts (deployer; queued, one at a time per deployment)", "security": [{"bearer": []}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "additionalProperties": false, "properties": {
          "imageDigest": {"type": "string", "pattern": "\#(digestPattern)"}, "dagsDigest": {"type": "string", "pattern": "\#(digestPattern)"}}}}}},
        "responses": {"202": {"description": "Queued", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Deploy"}}}},
                      "400": {"$ref": "#/components/responses/BadRequest"}, "401": {"$ref": "#/components/responses/Unauthorized"},
                      "403": {"$ref": "#/components/responses/Forbidden"}, "404": {"$ref": "#/components/responses/NotFound"},
                      "409": {"$ref": "#/components/responses/Conflict", "description": "finalize_refused: already finalized, a digest its type needs is missing, or an artifact is not uploaded"},
                      "413": {"$ref": "#/components/responses/TooLarge"}}}
    },
    "/deployments/{name}/deploys/{ref}/cancel": {
      "parameters": [{"$ref": "#/components/parameters/name"}, {"$ref": "#/components/parameters/ref"}],
      "post": {"summary": "Mark a created deploy that never ran as FAILED (deployer; its upload failed)", "security": [{"bearer": []}],
        "requestBody": {"required": false, "content": {"application/json": {"schema": {"type": "object", "additionalProperties": false, "properties": {
          "reason": {"type": "string", "description": "shown as the deploy's statusMessage; cut at 1,000 characters"}}}}}},
        "responses": {"200": {"description": "The deploy, FAILED", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Deploy"}}}},
                      "400": {"$ref": "#/components/responses/BadRequest"}, "401": {"$ref": "#/components/responses/Unauthorized"},
                      "403": {"$ref": "#/components/responses/Forbidden"}, "404": {"$ref": "#/components/responses/NotFound"},
                      "409": {"$ref": "#/components/responses/Conflict", "description": "cancel_refused: the deploy is queued, running or done"},
                      "413": {"$ref": "#/components/responses/TooLarge"}}}
    },
    "/deployments/{name}/deploys/{ref}/rollback": {
      "parameters": [{"$ref": "#/components/parameters/name"}, {"$ref": "#/components/parameters/ref"}],
      "post": {"summary": "Preview (dryRun: a read) or run a rollback to this deploy, as a new deploy (a token with a rollback role)",
        "security": [{}, {"bearer": []}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "additionalProperties": false, "properties": {
          "description": {"type": "string", "minLength": 1, "maxLength": \#(maximumDescriptionLength), "description": "required to run a rollback"},
          "dryRun": {"type": "boolean", "default": false}, "restoreBackup": {"type": "boolean"}, "pin": {"type": "boolean"},
          "expectedFromId": {"type": "string", "description": "refuse (409 current_deploy_changed) unless this deploy is still current"}}}}}},
        "responses": {"200": {"description": "The preview (dryRun)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RollbackPlan"}}}},
                      "202": {"description": "{plan, deploy}: the rollback deploy, queued", "content": {"application/json": {"schema": {
                        "type": "object", "required": ["plan", "deploy"], "properties": {
                          "plan": {"$ref": "#/components/schemas/RollbackPlan"}, "deploy": {"$ref": "#/components/schemas/Deploy"}}}}}},
                      "400": {"$ref": "#/components/responses/BadRequest"}, "401": {"$ref": "#/components/responses/Unauthorized"},
                      "403": {"$ref": "#/components/responses/Forbidden"}, "404": {"$ref": "#/components/responses/NotFound"},
                      "409": {"$ref": "#/components/responses/Conflict", "description": "rollback_refused (with the rule) or current_deploy_changed"},
                      "413": {"$ref": "#/components/responses/TooLarge"}}}
    },
    "/deployments/{name}/status": {
      "parameters": [{"$ref": "#/components/parameters/name"}],
      "get": {"summary": "Current deploy, Airflow URL, health and the live DB schema head", "security": [{}, {"bearer": []}],
        "responses": {"200": {"description": "Status",
          "content": {"application/json": {"schema": {"type": "object", "required": ["deployment", "currentDeploy", "airflowUrl", "health", "dbSchemaHead"], "properties": {
            "deployment": {"$ref": "#/components/schemas/Deployment"},
            "currentDeploy": {"anyOf": [{"$ref": "#/components/schemas/Deploy"}, {"type": "null"}]},
            "airflowUrl": {"type": ["string", "null"]}, "dbSchemaHead": {"type": ["string", "null"]},
            "health": {"type": "object", "required": ["status", "components"], "properties": {
              "status": {"type": "string", "enum": ["healthy", "unhealthy", "stopped", "unknown"]},
              "components": {"type": "object", "additionalProperties": {"type": "string"}}}}}}}}},
          "401": {"$ref": "#/components/responses/Unauthorized"}, "404": {"$ref": "#/components/responses/NotFound"}}}
    },
    "/deployments/{name}/pin": {
      "parameters": [{"$ref": "#/components/parameters/name"}],
      "delete": {"summary": "Unpin the deployment (admin; deploys are refused while pinned)", "security": [{"bearer": []}],
        "responses": {"200": {"description": "The deployment", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Deployment"}}}},
                      "401": {"$ref": "#/components/responses/Unauthorized"}, "403": {"$ref": "#/components/responses/Forbidden"},
                      "404": {"$ref": "#/components/responses/NotFound"}}}
    },
    "/deployments/{name}/audit-events": {
      "parameters": [{"$ref": "#/components/parameters/name"}],
      "get": {"summary": "The deployment's audit events, newest first, filtered by actor and action (exact), paged", "security": [{}, {"bearer": []}],
        "parameters": [{"$ref": "#/components/parameters/auditActor"}, {"$ref": "#/components/parameters/auditAction"},
                       {"$ref": "#/components/parameters/auditOffset"}, {"$ref": "#/components/parameters/auditLimit"}],
        "responses": {"200": {"$ref": "#/components/responses/AuditEvents"},
          "400": {"$ref": "#/components/responses/BadRequest"}, "401": {"$ref": "#/components/responses/Unauthorized"},
          "404": {"$ref": "#/components/responses/NotFound"}}}
    },
    "/audit-events": {
      "get": {"summary": "Every audit event (token changes included), newest first, filtered by deployment, actor and action (exact), paged",
        "security": [{}, {"bearer": []}],
        "parameters": [{"name": "deployment", "in": "query", "description": "a deployment's name (404 when there is none)", "schema": {"type": "string"}},
                       {"$ref": "#/components/parameters/auditActor"}, {"$ref": "#/components/parameters/auditAction"},
                       {"$ref": "#/components/parameters/auditOffset"}, {"$ref": "#/components/parameters/auditLimit"}],
        "responses": {"200": {"$ref": "#/components/responses/AuditEvents"},
          "400": {"$ref": "#/components/responses/BadRequest"}, "401": {"$ref": "#/components/responses/Unauthorized"},
          "404": {"$ref": "#/components/responses/NotFound"}}}
    },
    "/tokens": {
      "get": {"summary": "Every API token, revoked ones included, oldest first; never a secret (admin)", "security": [{"bearer": []}],
        "responses": {"200": {"description": "Tokens", "content": {"application/json": {"schema": {"type": "object", "required": ["tokens"],
          "properties": {"tokens": {"type": "array", "items": {"$ref": "#/components/schemas/APIToken"}}}}}}},
          "401": {"$ref": "#/components/responses/Unauthorized"}, "403": {"$ref": "#/components/responses/Forbidden"}}},
      "post": {"summary": "Create an API token (admin); the answer holds its secret, which is never shown again", "security": [{"bearer": []}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "additionalProperties": false, "required": ["name", "role"], "properties": {
          "name": {"type": "string", "minLength": 1, "maxLength": \#(APIToken.maximumNameLength), "pattern": "\\S", "description": "what the token is for; trimmed"},
          "role": {"$ref": "#/components/schemas/Role"}}}}}},
        "responses": {"201": {"description": "The secret and the token", "content": {"application/json": {"schema": {"type": "object", "required": ["secret", "token"],
          "properties": {"secret": {"type": "string"}, "token": {"$ref": "#/components/schemas/APIToken"}}}}}},
                      "400": {"$ref": "#/components/responses/BadRequest"}, "401": {"$ref": "#/components/responses/Unauthorized"},
                      "403": {"$ref": "#/components/responses/Forbidden"}, "413": {"$ref": "#/components/responses/TooLarge"}}}
    },
    "/tokens/{id}": {
      "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
      "delete": {"summary": "Revoke a token (admin): API calls with it get 401 at once and its web sessions end; revoking twice keeps the first time",
        "security": [{"bearer": []}],
        "responses": {"200": {"description": "The revoked token", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/APIToken"}}}},
                      "401": {"$ref": "#/components/responses/Unauthorized"}, "403": {"$ref": "#/components/responses/Forbidden"},
                      "404": {"$ref": "#/components/responses/NotFound"},
                      "409": {"$ref": "#/components/responses/Conflict", "description": "token_in_use: a token cannot revoke itself"}}}
    }
  }
}
"""#
}

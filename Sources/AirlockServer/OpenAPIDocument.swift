/// The OpenAPI 3.1 description of the REST API, served at `/api/v1/openapi.json`.
enum OpenAPIDocument {
    static let json = #"""
{
  "openapi": "3.1.0",
  "info": {"title": "Airlock deploy history API", "version": "1"},
  "servers": [{"url": "/api/v1"}],
  "components": {
    "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
    "schemas": {
      "Error": {"type": "object", "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}}},
      "DeploymentSettings": {"type": "object", "properties": {
        "rollbackEnabled": {"type": "boolean"}, "dagDeployEnabled": {"type": "boolean"},
        "deployMechanism": {"type": "string", "enum": ["image", "dag-only", "nfs", "git-sync"]},
        "retentionDays": {"type": "integer", "minimum": 1},
        "environmentVariables": {"type": "object", "additionalProperties": {"type": "string"}},
        "executor": {"type": ["string", "null"]}, "metadataDatabaseUrl": {"type": ["string", "null"]}}},
      "Deployment": {"type": "object", "required": ["id", "name", "target", "settings"], "properties": {
        "id": {"type": "string"}, "name": {"type": "string"}, "target": {"type": "string", "enum": ["local", "kubernetes"]},
        "settings": {"$ref": "#/components/schemas/DeploymentSettings"},
        "currentDeployId": {"type": ["string", "null"]}, "pinned": {"type": ["object", "null"]}}},
      "Deploy": {"type": "object", "required": ["id", "deploymentId", "sequence", "type", "status", "createdAt"], "properties": {
        "id": {"type": "string"}, "deploymentId": {"type": "string"}, "sequence": {"type": "integer"},
        "type": {"type": "string", "enum": ["IMAGE_AND_DAG", "IMAGE_ONLY", "DAG_ONLY"]},
        "status": {"type": "string", "enum": ["INITIALIZED", "DEPLOYING", "DEPLOYED", "FAILED"]},
        "description": {"type": "string"}, "createdAt": {"type": "string", "format": "date-time"},
        "createdBy": {"type": "string"}, "image": {"type": ["object", "null"]},
        "dagBundleVersion": {"type": ["string", "null"]}, "dagDeployEnabled": {"type": "boolean"},
        "dbSchemaHead": {"type": ["string", "null"]}, "git": {"type": ["object", "null"]},
        "rollbackFromId": {"type": ["string", "null"]}, "rollbackToId": {"type": ["string", "null"]},
        "artifactsStored": {"type": "boolean"}, "everDeployed": {"type": "boolean"},
        "runtimeVersion": {"type": ["string", "null"]}, "airflowVersion": {"type": ["string", "null"]}}},
      "AuditEvent": {"type": "object", "properties": {
        "id": {"type": "string"}, "at": {"type": "string", "format": "date-time"}, "actor": {"type": "string"},
        "action": {"type": "string"}, "deploymentId": {"type": ["string", "null"]}, "outcome": {"type": "string"},
        "detail": {"type": ["string", "null"]}}}
    },
    "responses": {
      "Error": {"description": "An error with a stable code", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    }
  },
  "paths": {
    "/deployments": {
      "get": {"summary": "List deployments", "responses": {"200": {"description": "Deployments",
        "content": {"application/json": {"schema": {"type": "object", "properties": {"deployments": {"type": "array", "items": {"$ref": "#/components/schemas/Deployment"}}}}}}}}},
      "post": {"summary": "Create a deployment", "security": [{"bearer": []}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["name"],
          "properties": {"name": {"type": "string", "pattern": "^[a-z][a-z0-9-]{0,62}$"}, "target": {"type": "string", "enum": ["local", "kubernetes"]},
            "metadataDatabaseUrl": {"type": "string", "description": "PostgreSQL URL without a password; absent: SQLite"}}}}}},
        "responses": {"201": {"description": "Created", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Deployment"}}}},
                      "400": {"$ref": "#/components/responses/Error"}, "401": {"$ref": "#/components/responses/Error"},
                      "403": {"$ref": "#/components/responses/Error"}}}
    },
    "/deployments/{name}": {
      "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
      "get": {"summary": "Get a deployment", "responses": {"200": {"description": "The deployment",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Deployment"}}}}, "404": {"$ref": "#/components/responses/Error"}}}
    },
    "/deployments/{name}/settings": {
      "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
      "patch": {"summary": "Update settings (rollback, DAG deploy, retention)", "security": [{"bearer": []}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "properties": {
          "rollbackEnabled": {"type": "boolean"}, "dagDeployEnabled": {"type": "boolean"}, "retentionDays": {"type": "integer", "minimum": 1},
          "deployMechanism": {"type": "string", "enum": ["image", "dag-only", "nfs", "git-sync"]}}}}}},
        "responses": {"200": {"description": "The deployment", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Deployment"}}}},
                      "400": {"$ref": "#/components/responses/Error"}, "401": {"$ref": "#/components/responses/Error"},
                      "404": {"$ref": "#/components/responses/Error"}}}
    },
    "/deployments/{name}/deploys": {
      "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}},
                     {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                     {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500}}],
      "get": {"summary": "Deploy history, newest first", "responses": {"200": {"description": "A page of deploys",
        "content": {"application/json": {"schema": {"type": "object", "required": ["deploys", "offset", "limit", "totalCount"], "properties": {
          "deploys": {"type": "array", "items": {"$ref": "#/components/schemas/Deploy"}},
          "offset": {"type": "integer"}, "limit": {"type": "integer"}, "totalCount": {"type": "integer"}}}}}},
        "404": {"$ref": "#/components/responses/Error"}}},
      "post": {"summary": "Create a deploy (then upload its artifacts and finalize it)", "security": [{"bearer": []}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "properties": {
          "type": {"type": "string", "enum": ["IMAGE_AND_DAG", "IMAGE_ONLY", "DAG_ONLY"]}, "description": {"type": "string", "maxLength": 500},
          "git": {"type": "object", "properties": {"commit": {"type": "string"}, "branch": {"type": "string"}, "author": {"type": "string"}, "remote": {"type": "string"}}}}}}}},
        "responses": {"201": {"description": "The deploy, INITIALIZED", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Deploy"}}}},
                      "401": {"$ref": "#/components/responses/Error"}, "409": {"$ref": "#/components/responses/Error"}}}
    },
    "/deployments/{name}/artifacts/{kind}": {
      "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}},
                     {"name": "kind", "in": "path", "required": true, "schema": {"type": "string", "enum": ["image", "dags"]}}],
      "put": {"summary": "Upload a bundle (ustar); stored once per content digest", "security": [{"bearer": []}],
        "requestBody": {"required": true, "content": {"application/x-tar": {"schema": {"type": "string", "format": "binary"}}}},
        "responses": {"201": {"description": "Stored"}, "200": {"description": "Already stored"},
                      "400": {"$ref": "#/components/responses/Error"}, "413": {"$ref": "#/components/responses/Error"}}}
    },
    "/deployments/{name}/deploys/{ref}": {
      "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}},
                     {"name": "ref", "in": "path", "required": true, "description": "N, #N or a deploy id", "schema": {"type": "string"}}],
      "get": {"summary": "One deploy, with statusMessage (its current step, or why it failed)", "responses": {
        "200": {"description": "The deploy", "content": {"application/json": {"schema": {"allOf": [{"$ref": "#/components/schemas/Deploy"},
          {"type": "object", "properties": {"statusMessage": {"type": ["string", "null"]},
            "steps": {"type": "array", "items": {"type": "string"}}}}]}}}},
        "404": {"$ref": "#/components/responses/Error"}}}
    },
    "/deployments/{name}/deploys/{ref}/finalize": {
      "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}},
                     {"name": "ref", "in": "path", "required": true, "schema": {"type": "string"}}],
      "post": {"summary": "Run the deploy with the uploaded artifacts (queued; serialised per deployment)", "security": [{"bearer": []}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "properties": {
          "imageDigest": {"type": "string"}, "dagsDigest": {"type": "string"}, "constraintsSource": {"type": "string"}}}}}},
        "responses": {"202": {"description": "Queued", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Deploy"}}}},
                      "400": {"$ref": "#/components/responses/Error"}, "401": {"$ref": "#/components/responses/Error"}}}
    },
    "/deployments/{name}/deploys/{ref}/cancel": {
      "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}},
                     {"name": "ref", "in": "path", "required": true, "schema": {"type": "string"}}],
      "post": {"summary": "Mark a created deploy that never ran as FAILED (its upload failed)", "security": [{"bearer": []}],
        "requestBody": {"content": {"application/json": {"schema": {"type": "object", "properties": {"reason": {"type": "string"}}}}}},
        "responses": {"200": {"description": "The deploy, FAILED", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Deploy"}}}},
                      "400": {"$ref": "#/components/responses/Error"}, "401": {"$ref": "#/components/responses/Error"}}}
    },
    "/deployments/{name}/deploys/{ref}/rollback": {
      "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}},
                     {"name": "ref", "in": "path", "required": true, "schema": {"type": "string"}}],
      "post": {"summary": "Preview (dryRun) or run a rollback to this deploy, as a new deploy", "security": [{"bearer": []}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "properties": {
          "description": {"type": "string", "minLength": 1, "maxLength": 500}, "dryRun": {"type": "boolean"},
          "restoreBackup": {"type": "boolean"}, "pin": {"type": "boolean"}, "constraintsSource": {"type": "string"},
          "expectedFromId": {"type": "string", "description": "refuse (409 current_deploy_changed) unless this deploy is still current"}}}}}},
        "responses": {"200": {"description": "The preview (dryRun)"}, "202": {"description": "{plan, deploy}: the rollback deploy, running"},
                      "401": {"$ref": "#/components/responses/Error"}, "409": {"$ref": "#/components/responses/Error"}}}
    },
    "/deployments/{name}/status": {
      "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
      "get": {"summary": "Current deploy, Airflow URL, health and the live DB schema head", "responses": {"200": {"description": "Status",
        "content": {"application/json": {"schema": {"type": "object", "required": ["deployment", "currentDeploy", "airflowUrl", "health", "dbSchemaHead"], "properties": {
          "deployment": {"$ref": "#/components/schemas/Deployment"}, "currentDeploy": {"oneOf": [{"$ref": "#/components/schemas/Deploy"}, {"type": "null"}]},
          "airflowUrl": {"type": ["string", "null"]}, "dbSchemaHead": {"type": ["string", "null"]},
          "health": {"type": "object", "properties": {"status": {"type": "string", "enum": ["healthy", "unhealthy", "stopped"]},
            "components": {"type": "object", "additionalProperties": {"type": "string"}}}}}}}}}}}
    },
    "/deployments/{name}/pin": {
      "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
      "delete": {"summary": "Unpin the deployment (deploys are refused while pinned)", "security": [{"bearer": []}],
        "responses": {"200": {"description": "The deployment"}, "401": {"$ref": "#/components/responses/Error"}}}
    },
    "/deployments/{name}/audit-events": {
      "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
      "get": {"summary": "Audit events, newest first", "responses": {"200": {"description": "Events",
        "content": {"application/json": {"schema": {"type": "object", "properties": {"events": {"type": "array", "items": {"$ref": "#/components/schemas/AuditEvent"}}}}}}}}}
    }
  }
}
"""#
}

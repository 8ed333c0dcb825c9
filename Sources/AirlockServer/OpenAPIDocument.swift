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
        "executor": {"type": ["string", "null"]}}},
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
        "artifactsStored": {"type": "boolean"}, "everDeployed": {"type": "boolean"}}},
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
          "properties": {"name": {"type": "string", "pattern": "^[a-z][a-z0-9-]{0,62}$"}, "target": {"type": "string", "enum": ["local", "kubernetes"]}}}}}},
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
          "rollbackEnabled": {"type": "boolean"}, "dagDeployEnabled": {"type": "boolean"}, "retentionDays": {"type": "integer", "minimum": 1}}}}}},
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
        "404": {"$ref": "#/components/responses/Error"}}}
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

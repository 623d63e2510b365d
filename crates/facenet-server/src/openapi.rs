//! The OpenAPI 3 description, written by hand: a handful of routes does not need a macro crate.

use serde_json::{json, Value};

pub fn document() -> Value {
    let error = json!({ "$ref": "#/components/schemas/Error" });
    let errors = |codes: &[(&str, &str)]| -> Value {
        let mut m = serde_json::Map::new();
        for (status, desc) in codes {
            m.insert(
                (*status).into(),
                json!({ "description": desc,
                        "content": { "application/json": { "schema": error.clone() } } }),
            );
        }
        Value::Object(m)
    };
    let image_errors = [
        (
            "400",
            "invalid_json, missing_image, bad_base64, invalid_multipart",
        ),
        ("401", "unauthorized: missing or unknown key"),
        ("403", "forbidden: the key's role may not call this route"),
        (
            "413",
            "payload_too_large (body) or image_too_large (pixels)",
        ),
        ("415", "unsupported_media_type"),
        ("422", "invalid_image, image_too_small, no_face"),
        (
            "503",
            "queue_full; retry after the Retry-After header's seconds",
        ),
    ];
    let one_image = json!({
        "required": true,
        "content": {
            "multipart/form-data": { "schema": { "type": "object", "required": ["file"],
                "properties": { "file": { "type": "string", "format": "binary" } } } },
            "application/json": { "schema": { "type": "object", "required": ["image"],
                "properties": { "image": { "type": "string", "format": "byte" } } } }
        }
    });
    let two_images = json!({
        "required": true,
        "content": {
            "multipart/form-data": { "schema": { "type": "object", "required": ["file1", "file2"],
                "properties": { "file1": { "type": "string", "format": "binary" },
                                "file2": { "type": "string", "format": "binary" } } } },
            "application/json": { "schema": { "type": "object", "required": ["image1", "image2"],
                "properties": { "image1": { "type": "string", "format": "byte" },
                                "image2": { "type": "string", "format": "byte" } } } }
        }
    });
    let ok = |schema: &str| {
        json!({ "description": "OK", "content": { "application/json": {
            "schema": { "$ref": format!("#/components/schemas/{schema}") } } } })
    };
    let with_ok = |schema: &str| {
        let mut r = errors(&image_errors);
        if let Some(m) = r.as_object_mut() {
            m.insert("200".into(), ok(schema));
        }
        r
    };
    let plain = |desc: &str, ctype: &str| json!({ "200": { "description": desc, "content": { ctype: { "schema": { "type": "string" } } } } });
    json!({
        "openapi": "3.0.3",
        "info": { "title": "Facenet face recognition service", "version": env!("CARGO_PKG_VERSION") },
        "security": [ { "apiKey": [] }, { "bearer": [] } ],
        "paths": {
            "/api/v1/detect": { "post": { "summary": "Faces in an image (role client)",
                "requestBody": one_image, "responses": with_ok("Detection") } },
            "/api/v1/embed": { "post": { "summary": "Faces with their embeddings (role client)",
                "requestBody": one_image, "responses": with_ok("Detection") } },
            "/api/v1/verify": { "post": { "summary": "Whether two images show the same person (role client)",
                "requestBody": two_images, "responses": with_ok("Verification") } },
            "/healthz": { "get": { "summary": "Liveness", "security": [], "responses": plain("alive", "application/json") } },
            "/readyz": { "get": { "summary": "Readiness: models loaded", "security": [], "responses": plain("ready", "application/json") } },
            "/metrics": { "get": { "summary": "Prometheus metrics (roles operator, auditor)",
                "responses": plain("Prometheus text exposition", "text/plain") } },
            "/openapi.json": { "get": { "summary": "This document", "security": [], "responses": plain("OpenAPI 3", "application/json") } }
        },
        "components": {
            "securitySchemes": {
                "apiKey": { "type": "apiKey", "in": "header", "name": "x-api-key" },
                "bearer": { "type": "http", "scheme": "bearer" }
            },
            "schemas": {
                "Error": { "type": "object", "required": ["error"], "properties": { "error": {
                    "type": "object", "required": ["code", "message", "request_id"],
                    "properties": { "code": { "type": "string" }, "message": { "type": "string" },
                                    "request_id": { "type": "string" } } } } },
                "Face": { "type": "object", "required": ["box", "score", "landmarks"], "properties": {
                    "box": { "type": "array", "items": { "type": "number" }, "minItems": 4, "maxItems": 4,
                             "description": "[x1, y1, x2, y2] in pixels of the upright image" },
                    "score": { "type": "number" },
                    "landmarks": { "type": "array", "minItems": 5, "maxItems": 5, "items": {
                        "type": "array", "items": { "type": "number" }, "minItems": 2, "maxItems": 2 },
                        "description": "eyes, nose, mouth corners as [x, y]" },
                    "embedding": { "type": "array", "items": { "type": "number" },
                                   "description": "L2-normalised; embed only" } } },
                "Detection": { "type": "object", "required": ["faces", "width", "height"], "properties": {
                    "faces": { "type": "array", "items": { "$ref": "#/components/schemas/Face" } },
                    "width": { "type": "integer" }, "height": { "type": "integer" } } },
                "Verification": { "type": "object",
                    "required": ["verified", "distance", "similarity", "threshold", "metric", "face1", "face2"],
                    "properties": {
                        "verified": { "type": "boolean" }, "distance": { "type": "number" },
                        "similarity": { "type": "number", "description": "cosine similarity" },
                        "threshold": { "type": "number" }, "metric": { "type": "string", "enum": ["l2"] },
                        "face1": { "$ref": "#/components/schemas/Face" },
                        "face2": { "$ref": "#/components/schemas/Face" } } }
            }
        }
    })
}

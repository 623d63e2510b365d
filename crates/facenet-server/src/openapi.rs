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
    let mut doc = base(&one_image, &two_images, with_ok, ok);
    if let Some(paths) = doc["paths"].as_object_mut() {
        if let Value::Object(more) = gallery_paths(&one_image, &errors) {
            paths.extend(more);
        }
    }
    doc
}

/// Builds a route's error responses from its `(status, codes)` pairs.
type ErrorsFn<'a> = dyn Fn(&[(&str, &str)]) -> Value + 'a;

fn gallery_paths(one_image: &Value, errors: &ErrorsFn<'_>) -> Value {
    let json_body = |schema: Value| json!({ "required": true, "content": { "application/json": { "schema": schema } } });
    let res = |status: &str, desc: &str, more: &[(&str, &str)]| {
        let mut r = errors(more);
        if let Some(m) = r.as_object_mut() {
            m.insert(status.into(), json!({ "description": desc, "content": { "application/json": { "schema": { "type": "object" } } } }));
            m.insert("401".into(), json!({ "description": "unauthorized" }));
            m.insert("403".into(), json!({ "description": "forbidden" }));
            m.insert(
                "429".into(),
                json!({ "description": "rate_limited; see Retry-After" }),
            );
        }
        r
    };
    let id =
        json!([{ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } }]);
    let page = json!([
        { "name": "offset", "in": "query", "schema": { "type": "integer", "minimum": 0 } },
        { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 1000 } }
    ]);
    let subject = json!({ "type": "object", "required": ["name"], "properties": {
        "name": { "type": "string", "minLength": 1, "maxLength": 200 },
        "metadata": { "type": "object" } } });
    let image_errs: &[(&str, &str)] = &[
        (
            "400",
            "invalid_json, missing_image, bad_base64, invalid_query",
        ),
        ("404", "not_found"),
        ("413", "payload_too_large, image_too_large"),
        ("415", "unsupported_media_type"),
        ("422", "invalid_image, no_face, multiple_faces"),
        ("503", "queue_full"),
    ];
    json!({
        "/api/v1/recognize": { "post": { "summary": "1:N: every face against the gallery (role client). Candidates within the threshold, best first; an empty list is an unknown person.",
            "parameters": [{ "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 100, "default": 5 } }],
            "requestBody": one_image, "responses": res("200", "faces with candidates [{subject, name, similarity, distance, face_id}]", image_errs) } },
        "/api/v1/subjects": {
            "post": { "summary": "Create a subject (role operator)", "requestBody": json_body(subject.clone()),
                      "responses": res("201", "the subject", &[("400", "invalid_json, invalid_request"), ("409", "conflict: name in use"), ("415", "unsupported_media_type")]) },
            "get": { "summary": "List subjects, oldest first (role operator)", "parameters": page.clone(),
                     "responses": res("200", "{subjects, total, offset, limit}", &[("400", "invalid_query")]) } },
        "/api/v1/subjects/{id}": {
            "get": { "summary": "One subject (role operator)", "parameters": id.clone(), "responses": res("200", "the subject", &[("404", "not_found")]) },
            "patch": { "summary": "Rename or replace metadata (role operator)", "parameters": id.clone(),
                       "requestBody": json_body(json!({ "type": "object", "properties": { "name": { "type": "string" }, "metadata": { "type": "object" } } })),
                       "responses": res("200", "the subject", &[("404", "not_found"), ("409", "conflict")]) },
            "delete": { "summary": "Delete a subject and erase all its templates; audited (role operator)", "parameters": id.clone(),
                        "responses": res("200", "{deleted, faces_erased}", &[("404", "not_found")]) } },
        "/api/v1/subjects/{id}/faces": {
            "post": { "summary": "Enroll the one face of a photo (role operator); the template is stored encrypted, the photo is not stored",
                      "parameters": id.clone(), "requestBody": one_image, "responses": res("201", "the face record", image_errs) },
            "get": { "summary": "The subject's faces, without templates (role operator)", "parameters": id.clone(),
                     "responses": res("200", "{faces}", &[("404", "not_found")]) } },
        "/api/v1/faces/{id}": { "delete": { "summary": "Erase one face (role operator)", "parameters": id.clone(),
            "responses": res("200", "{deleted, subject_id}", &[("404", "not_found")]) } },
        "/api/v1/keys": {
            "get": { "summary": "List API keys, never their secrets (admin)", "responses": res("200", "{keys}", &[]) },
            "post": { "summary": "Create a key; the secret is in this response only (admin)",
                      "requestBody": json_body(json!({ "type": "object", "required": ["role"], "properties": {
                          "role": { "type": "string", "enum": ["admin", "operator", "client", "auditor"] }, "label": { "type": "string" } } })),
                      "responses": res("201", "{id, key, role, label, created_at}", &[("400", "invalid_request")]) } },
        "/api/v1/keys/{id}": { "delete": { "summary": "Revoke a key (admin)", "parameters": id.clone(),
            "responses": res("200", "the revoked key", &[("404", "not_found")]) } },
        "/api/v1/audit": { "get": { "summary": "The hash-chained audit log, oldest first (role auditor)", "parameters": page,
            "responses": res("200", "{entries, offset, limit}", &[("400", "invalid_query")]) } },
        "/api/v1/audit/verify": { "get": { "summary": "Check the audit chain (role auditor)",
            "responses": res("200", "{intact: true, rows}", &[("500", "audit_broken: names the first broken row")]) } },
        "/": { "get": { "summary": "Redirects to the web UI", "security": [], "responses": { "303": { "description": "to /ui/" } } } },
        "/ui/": { "get": { "summary": "The web UI", "security": [], "responses": { "200": { "description": "HTML" } } } },
        "/ui/app.js": { "get": { "summary": "The web UI's script", "security": [], "responses": { "200": { "description": "JavaScript" } } } },
        "/ui/app.css": { "get": { "summary": "The web UI's style sheet", "security": [], "responses": { "200": { "description": "CSS" } } } }
    })
}

fn base(
    one_image: &Value,
    two_images: &Value,
    with_ok: impl Fn(&str) -> Value,
    _ok: impl Fn(&str) -> Value,
) -> Value {
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

//! End-to-end tests: real models, real HTTP on loopback.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{b64, expect_error, photo, photos, png, Server, KEYS};
use facenet_core::batch::BatchConfig;
use facenet_server::{Limits, Role, ROUTES};
use reqwest::header::CONTENT_TYPE;
use reqwest::multipart::{Form, Part};
use reqwest::Method;
use serde_json::{json, Value};

fn check_face(face: &Value, width: f64, height: f64) {
    let b: Vec<f64> = serde_json::from_value(face["box"].clone()).unwrap();
    assert_eq!(b.len(), 4);
    assert!(0.0 <= b[0] && b[0] < b[2] && b[2] <= width, "{b:?}");
    assert!(0.0 <= b[1] && b[1] < b[3] && b[3] <= height, "{b:?}");
    assert!(face["score"].as_f64().unwrap() > 0.9);
    assert_eq!(face["landmarks"].as_array().unwrap().len(), 5);
}

fn check_detection(v: &Value) -> usize {
    let (w, h) = (v["width"].as_f64().unwrap(), v["height"].as_f64().unwrap());
    let faces = v["faces"].as_array().unwrap();
    assert!(!faces.is_empty(), "{v}");
    for f in faces {
        check_face(f, w, h);
    }
    faces.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detect_by_multipart_and_json() {
    let Some(dir) = photos() else { return };
    let s = Server::default().await;
    let obama = photo(&dir, "obama.jpg");

    let form = Form::new().part("file", Part::bytes(obama.clone()).file_name("obama.jpg"));
    let res = s
        .req(Method::POST, "/api/v1/detect", None)
        .bearer_auth("client-secret")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let multipart: Value = res.json().await.unwrap();
    let n = check_detection(&multipart);
    assert!(multipart["faces"][0].get("embedding").is_none());

    let (status, json) = s
        .post_json("/api/v1/detect", &json!({ "image": b64(&obama) }))
        .await;
    assert_eq!(status, 200);
    assert_eq!(check_detection(&json), n);
    assert_eq!(
        json, multipart,
        "both encodings of one photo give one answer"
    );

    let (status, embed) = s
        .post_json("/api/v1/embed", &json!({ "image": b64(&obama) }))
        .await;
    assert_eq!(status, 200);
    check_detection(&embed);
    let e: Vec<f32> = serde_json::from_value(embed["faces"][0]["embedding"].clone()).unwrap();
    assert_eq!(e.len(), 512);
    let norm = e.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-3, "{norm}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_true_and_false_pairs() {
    let Some(dir) = photos() else { return };
    let s = Server::default().await;
    let (obama, obama2, biden) = (
        photo(&dir, "obama.jpg"),
        photo(&dir, "obama2.jpg"),
        photo(&dir, "biden.jpg"),
    );
    let (status, v) = s
        .post_json(
            "/api/v1/verify",
            &json!({ "image1": b64(&obama), "image2": b64(&obama2) }),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    eprintln!("obama vs obama2: {v}");
    assert_eq!(v["verified"], true);
    let d = v["distance"].as_f64().unwrap();
    assert!((d - 0.675).abs() < 0.01, "distance {d}");
    assert_eq!(v["metric"], "l2");
    assert!((v["threshold"].as_f64().unwrap() - 1.129).abs() < 1e-6);
    let sim = v["similarity"].as_f64().unwrap();
    // Unit vectors: cos = 1 - d²/2.
    assert!((sim - (1.0 - d * d / 2.0)).abs() < 1e-4, "{sim}");
    check_face(&v["face1"], 1e9, 1e9);
    check_face(&v["face2"], 1e9, 1e9);

    let form = Form::new()
        .part("file1", Part::bytes(obama).file_name("a.jpg"))
        .part("file2", Part::bytes(biden).file_name("b.jpg"));
    let res = s
        .req(Method::POST, "/api/v1/verify", Some("client-secret"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    eprintln!("obama vs biden: {v}");
    assert_eq!(v["verified"], false);
    assert!(v["distance"].as_f64().unwrap() > 1.129);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_by_route_matrix() {
    let Some(dir) = photos() else { return };
    let s = Server::default().await;
    let (obama, obama2) = (photo(&dir, "obama.jpg"), photo(&dir, "obama2.jpg"));
    let one = json!({ "image": b64(&obama) });
    let two = json!({ "image1": b64(&obama), "image2": b64(&obama2) });

    let mut callers: Vec<(&str, Option<&str>, Option<Role>)> = vec![
        ("no key", None, None),
        ("unknown key", Some("not-a-key"), None),
    ];
    for (secret, role) in KEYS {
        callers.push((role.as_str(), Some(secret), Some(role)));
    }
    // A real subject for the `{id}` routes; faces and keys get ids that do not exist, so that
    // an allowed call answers 404 and nothing the matrix relies on is deleted.
    let sid = s
        .store
        .create_subject(&facenet_store::AuditCtx::cli(), "matrix", Value::Null)
        .unwrap()
        .id;
    let mut checked = 0;
    for (method, path, access) in ROUTES {
        for (who, key, role) in &callers {
            let allowed = match (access, role) {
                (facenet_server::Access::Public, _) => true,
                (_, None) => false,
                (a, Some(r)) => facenet_server::auth::allows(*a, *r),
            };
            let url = if *method == Method::DELETE {
                path.replace("{id}", "no-such-id")
            } else {
                path.replace("/subjects/{id}", &format!("/subjects/{sid}"))
                    .replace("{id}", "no-such-id")
            };
            let mut r = s.req(method.clone(), &url, *key);
            if *method == Method::POST || *method == Method::PATCH {
                r = r.json(&match *path {
                    "/api/v1/verify" => two.clone(),
                    "/api/v1/subjects" => json!({ "name": format!("{who} {checked}") }),
                    "/api/v1/subjects/{id}" => json!({ "metadata": { "k": checked } }),
                    "/api/v1/keys" => json!({ "role": "client" }),
                    _ => one.clone(),
                });
            }
            let res = r
                .send()
                .await
                .unwrap_or_else(|e| panic!("{method} {path} as {who}: {e:?}"));
            let status = res.status().as_u16();
            let body = res.text().await.unwrap();
            let ctx = format!("{method} {path} as {who}: {status} {body}");
            if allowed {
                // Through the gate: a success, or the route's own 404 for an id that does not
                // exist.
                let ok =
                    (200..300).contains(&status) || (status == 404 && url.contains("no-such-id"));
                assert!(ok, "{ctx}");
            } else {
                let (want, code) = if role.is_none() {
                    (401, "unauthorized")
                } else {
                    (403, "forbidden")
                };
                assert_eq!(status, want, "{ctx}");
                let v: Value = serde_json::from_str(&body).unwrap();
                assert_eq!(v["error"]["code"], code, "{ctx}");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, ROUTES.len() * 6);

    // The table covers the spec's stateless routes and probes, with these exact rules.
    use facenet_server::Access::{Public, Roles};
    let rule = |m: Method, p: &str| facenet_server::auth::access(&m, p);
    assert_eq!(rule(Method::GET, "/healthz"), Some(Public));
    assert_eq!(
        rule(Method::POST, "/api/v1/verify"),
        Some(Roles(&[Role::Client]))
    );
    assert_eq!(
        rule(Method::POST, "/api/v1/recognize"),
        Some(Roles(&[Role::Client]))
    );
    assert_eq!(
        rule(Method::POST, "/api/v1/subjects/{id}/faces"),
        Some(Roles(&[Role::Operator]))
    );
    assert_eq!(
        rule(Method::DELETE, "/api/v1/faces/{id}"),
        Some(Roles(&[Role::Operator]))
    );
    assert_eq!(rule(Method::POST, "/api/v1/keys"), Some(Roles(&[])));
    assert_eq!(
        rule(Method::GET, "/api/v1/audit"),
        Some(Roles(&[Role::Auditor]))
    );

    // Unknown routes get the JSON 404 even without a key.
    let res = s
        .req(Method::GET, "/api/v1/nothing", None)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["error"]["code"], "not_found");
    let res = s
        .req(Method::GET, "/api/v1/detect", Some("admin-secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["error"]["code"], "method_not_allowed");

    // The OpenAPI document describes every route in the table.
    let doc: Value = s
        .req(Method::GET, "/openapi.json", None)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for (method, path, _) in ROUTES {
        let m = method.as_str().to_ascii_lowercase();
        assert!(
            doc["paths"][path][&m].is_object(),
            "{method} {path} missing from openapi"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_get_documented_codes() {
    let Some(dir) = photos() else { return };
    let limit = 1024 * 1024;
    let s = Server::start(
        Limits {
            max_body_bytes: limit,
            ..Limits::default()
        },
        BatchConfig::default(),
    )
    .await;
    let obama = photo(&dir, "obama.jpg");
    let post = |path: &str| s.req(Method::POST, path, Some("client-secret"));
    let detect = || post("/api/v1/detect");
    let json_body = |body: String| detect().header(CONTENT_TYPE, "application/json").body(body);

    expect_error(json_body("{not json".into()), 400, "invalid_json").await;
    expect_error(json_body("[1]".into()), 400, "invalid_json").await;
    expect_error(detect().json(&json!({})), 400, "missing_image").await;
    expect_error(detect().json(&json!({ "image": 3 })), 400, "invalid_json").await;
    expect_error(detect().json(&json!({ "image": "***" })), 400, "bad_base64").await;
    expect_error(detect().json(&json!({ "image": "" })), 422, "invalid_image").await;
    expect_error(
        detect().json(&json!({ "image": b64(b"this is not a picture") })),
        422,
        "invalid_image",
    )
    .await;
    let garbage = Form::new().part("file", Part::bytes(vec![0xffu8; 1000]).file_name("x.jpg"));
    expect_error(detect().multipart(garbage), 422, "invalid_image").await;
    let wrong_field = Form::new().part("image", Part::bytes(obama.clone()).file_name("x.jpg"));
    expect_error(detect().multipart(wrong_field), 400, "missing_image").await;
    expect_error(
        post("/api/v1/verify")
            .json(&json!({ "image1": b64(&png(300, 300)), "image2": b64(&obama) })),
        422,
        "no_face",
    )
    .await;
    expect_error(
        post("/api/v1/verify").json(&json!({ "image1": b64(&obama) })),
        400,
        "missing_image",
    )
    .await;
    let big = vec![b'A'; limit + 1000];
    expect_error(
        json_body(format!(
            "{{\"image\":\"{}\"}}",
            String::from_utf8(big.clone()).unwrap()
        )),
        413,
        "payload_too_large",
    )
    .await;
    let big_form = Form::new().part("file", Part::bytes(big).file_name("x.jpg"));
    expect_error(detect().multipart(big_form), 413, "payload_too_large").await;
    // Over the decoder's 40-megapixel limit, caught from the header before any pixel is decoded.
    let huge = png(6400, 6400);
    assert!(huge.len() < limit, "{}", huge.len());
    let form = Form::new().part("file", Part::bytes(huge).file_name("x.png"));
    expect_error(detect().multipart(form), 413, "image_too_large").await;
    expect_error(
        detect().header(CONTENT_TYPE, "text/plain").body("hello"),
        415,
        "unsupported_media_type",
    )
    .await;
    expect_error(
        detect().body("no content type"),
        415,
        "unsupported_media_type",
    )
    .await;

    // A plain client-supplied request id is echoed in the header and the error body.
    let res = detect()
        .header("x-request-id", "trace-42")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "trace-42");
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["error"]["request_id"], "trace-42");
    // One that could forge log lines is replaced.
    let res = detect()
        .header("x-request-id", "a b\"c")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_ne!(res.headers()["x-request-id"], "a b\"c");

    // Security headers on a success too.
    let res = s.req(Method::GET, "/healthz", None).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let h = res.headers();
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["cache-control"], "no-store");
    assert!(h["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'none'"));
    assert!(h.contains_key("x-request-id"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_embeds_share_batches() {
    let Some(dir) = photos() else { return };
    let batch = BatchConfig {
        max_wait: Duration::from_millis(20),
        ..BatchConfig::default()
    };
    let s = Arc::new(Server::start(Limits::default(), batch).await);
    let body = Arc::new(json!({ "image": b64(&photo(&dir, "obama.jpg")) }));
    let started = std::time::Instant::now();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (s, body) = (s.clone(), body.clone());
            tokio::spawn(async move { s.post_json("/api/v1/embed", &body).await })
        })
        .collect();
    let mut first: Option<Value> = None;
    for t in tasks {
        let (status, v) = t.await.unwrap();
        assert_eq!(status, 200, "{v}");
        let e = v["faces"][0]["embedding"].clone();
        assert_eq!(e.as_array().unwrap().len(), 512);
        match &first {
            None => first = Some(e),
            Some(f) => {
                let a: Vec<f32> = serde_json::from_value(f.clone()).unwrap();
                let b: Vec<f32> = serde_json::from_value(e).unwrap();
                assert!(
                    facenet_core::distance::l2(&a, &b) < 1e-4,
                    "batching changed an embedding"
                );
            }
        }
    }
    let stats = s.state.batcher.stats();
    eprintln!("8 concurrent embeds in {:?}: {stats:?}", started.elapsed());
    assert_eq!(stats.jobs, 8);
    assert!(stats.batches < 8, "{stats:?}");

    let text = s
        .req(Method::GET, "/metrics", Some("operator-secret"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(
            r#"facenet_http_requests_total{method="POST",route="/api/v1/embed",status="200"} 8"#
        ),
        "{text}"
    );
    assert!(text.contains(&format!("facenet_embed_batches_total {}", stats.batches)));
    assert!(text.contains("facenet_embed_queue_depth 0"));
    assert!(
        text.contains(r#"facenet_http_request_duration_seconds_count{route="/api/v1/embed"} 8"#)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_and_graceful_shutdown() {
    let mut s = Server::default().await;
    let res = s.req(Method::GET, "/readyz", None).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["status"], "ready");
    if let Some(stop) = s.stop.take() {
        stop.send(()).unwrap();
    }
    let done = tokio::time::timeout(Duration::from_secs(10), &mut s.task).await;
    assert!(
        matches!(done, Ok(Ok(Ok(())))),
        "server did not shut down cleanly"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_requests_time_out_with_the_error_shape() {
    let Some(dir) = photos() else { return };
    let limits = Limits {
        request_timeout: Duration::from_millis(1),
        ..Limits::default()
    };
    let s = Server::start(limits, BatchConfig::default()).await;
    let body = json!({ "image": b64(&photo(&dir, "obama.jpg")) });
    let r = s
        .req(Method::POST, "/api/v1/detect", Some("client-secret"))
        .json(&body);
    expect_error(r, 408, "timeout").await;
}

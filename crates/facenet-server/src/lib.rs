//! The HTTP face-recognition service over `facenet-core`.
//!
//! This crate is the service's HTTP layer: routes, API-key authorization by role, request
//! limits, error bodies, request ids, security headers, metrics and the OpenAPI document. It
//! holds no model code (that is `facenet-core`, which knows nothing of HTTP) and no storage
//! (keys, subjects and templates come from the store through traits such as
//! [`Authenticator`]). Build an [`AppState`], then [`router`] or [`serve`].

mod admin_api;
mod api;
pub mod auth;
pub mod error;
mod extract;
pub mod gallery;
mod gallery_api;
mod images;
pub mod index;
mod metrics;
mod openapi;
mod ratelimit;
pub mod tls;
mod ui;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use facenet_core::batch::{BatchConfig, Batcher};
use facenet_core::Pipeline;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use auth::{Access, Authenticator, Principal, Role, StaticKeys, StoreKeys, ROUTES};
pub use error::ApiError;
pub use gallery::Gallery;
pub use ratelimit::RateLimit;

use auth::RouteLabel;
use error::ErrorInfo;
use metrics::Metrics;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Bounds on what one request may cost. The decoder's pixel limit is the pipeline's
/// (`PipelineOptions::limits`).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// A request still running after this gets 408.
    pub request_timeout: Duration,
    /// Per API key; `None` turns rate limiting off.
    pub rate: Option<RateLimit>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 16 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            rate: Some(RateLimit::default()),
        }
    }
}

/// What every handler shares. Holding a loaded [`Pipeline`] is what makes the service ready.
#[derive(Clone)]
pub struct AppState {
    pub pipeline: Arc<Pipeline>,
    /// The one embedding queue all requests go through, so that concurrent faces share runs.
    pub batcher: Arc<Batcher>,
    pub auth: Arc<dyn Authenticator>,
    /// Subjects, encrypted templates and the in-memory 1:N index over them.
    pub gallery: Arc<Gallery>,
    pub limits: Limits,
    metrics: Arc<Metrics>,
    rate: Option<Arc<ratelimit::Limiter>>,
}

impl AppState {
    /// Loads the gallery index from `store` and starts the batching queue around the
    /// pipeline's embedder.
    pub fn new(
        pipeline: Arc<Pipeline>,
        batch: BatchConfig,
        auth: Arc<dyn Authenticator>,
        store: Arc<dyn facenet_store::Store>,
        limits: Limits,
    ) -> Result<Self, facenet_store::Error> {
        let manifest = &pipeline.package.manifest;
        let gallery = Gallery::open(store, model_version(&pipeline), manifest.embedding_size)?;
        let p = Arc::clone(&pipeline);
        let batcher = Arc::new(Batcher::spawn(batch, move |faces| p.embedder.embed(faces)));
        let rate = limits.rate.map(|r| Arc::new(ratelimit::Limiter::new(r)));
        Ok(AppState {
            pipeline,
            batcher,
            auth,
            gallery: Arc::new(gallery),
            limits,
            metrics: Arc::default(),
            rate,
        })
    }
}

/// The model's identity in each template's AAD: its name and the embedder file's digest, so
/// that templates of retrained weights under the same name are never mixed up.
pub fn model_version(pipeline: &Pipeline) -> String {
    let m = &pipeline.package.manifest;
    let digest = m
        .files
        .embedder
        .sha256
        .get(..16)
        .unwrap_or(&m.files.embedder.sha256);
    format!("{}@{digest}", m.name)
}

/// The whole application. Every route must also appear in [`ROUTES`], which decides who may
/// call it.
pub fn router(state: AppState) -> Router {
    let trace = TraceLayer::new_for_http().make_span_with(|req: &Request| {
        let id = req
            .headers()
            .get(&REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        tracing::info_span!(
            "request",
            method = %req.method(),
            path = req.uri().path(),
            request_id = id,
            key_id = tracing::field::Empty,
        )
    });
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route("/openapi.json", get(openapi_json))
        .route("/api/v1/detect", post(api::detect))
        .route("/api/v1/embed", post(api::embed))
        .route("/api/v1/verify", post(api::verify))
        .route("/api/v1/recognize", post(gallery_api::recognize))
        .route(
            "/api/v1/subjects",
            post(gallery_api::create_subject).get(gallery_api::list_subjects),
        )
        .route(
            "/api/v1/subjects/{id}",
            get(gallery_api::get_subject)
                .patch(gallery_api::patch_subject)
                .delete(gallery_api::delete_subject),
        )
        .route(
            "/api/v1/subjects/{id}/faces",
            post(gallery_api::enroll).get(gallery_api::list_faces),
        )
        .route("/api/v1/faces/{id}", delete(gallery_api::delete_face))
        .route(
            "/api/v1/keys",
            get(admin_api::list_keys).post(admin_api::create_key),
        )
        .route("/api/v1/keys/{id}", delete(admin_api::revoke_key))
        .route("/api/v1/audit", get(admin_api::audit_log))
        .route("/api/v1/audit/verify", get(admin_api::audit_verify))
        .route("/", get(ui::root))
        .route("/ui/", get(ui::index))
        .route("/ui/app.js", get(ui::script))
        .route("/ui/app.css", get(ui::style))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authorize,
        ))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(state.limits.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            state.limits.request_timeout,
        ))
        .layer(trace)
        .layer(middleware::from_fn_with_state(state.clone(), envelope))
        .with_state(state)
}

/// Serves until `shutdown` completes, then lets requests in flight finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Binds `addr`, calls `on_ready` with the bound address, and serves (HTTPS when `tls` is
/// given) until Ctrl-C or SIGTERM, on a runtime of its own: the command line stays free of
/// async code.
pub fn serve_blocking(
    addr: std::net::SocketAddr,
    state: AppState,
    tls: Option<Arc<rustls::ServerConfig>>,
    on_ready: impl FnOnce(std::net::SocketAddr),
) -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        on_ready(listener.local_addr()?);
        match tls {
            Some(config) => {
                let listener = listener.into_std()?;
                tls::serve_tls(listener, state, config, shutdown_signal()).await
            }
            None => serve(listener, state, shutdown_signal()).await,
        }
    })
}

/// Completes on Ctrl-C or SIGTERM, for [`serve`]'s `shutdown`.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// Reads and drops the body of a request refused before its body was read. Hyper closes such a
/// connection, and a client still sending would get a reset instead of the refusal; the read
/// is bounded by the body limit, as an accepted request's is.
pub(crate) async fn drain(req: Request, limit: usize) {
    let _ = axum::body::to_bytes(req.into_body(), limit).await;
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn readyz(State(state): State<AppState>) -> Json<serde_json::Value> {
    let m = &state.pipeline.package.manifest;
    Json(serde_json::json!({
        "status": "ready",
        "model": { "name": m.name, "version": m.version, "id": state.gallery.model_version },
        "queue_depth": state.batcher.queue_depth(),
        "gallery": { "faces": state.gallery.len(), "stale_templates": state.gallery.stale },
    }))
}

async fn metrics_text(State(state): State<AppState>) -> Response {
    let body = state.metrics.render(&state.batcher, state.gallery.len());
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

async fn openapi_json() -> Json<serde_json::Value> {
    Json(openapi::document())
}

async fn not_found() -> ApiError {
    ApiError::not_found()
}

/// A client's request id is kept when it is short and plain, so it cannot forge log lines.
fn valid_request_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

const SECURITY_HEADERS: [(&str, &str); 5] = [
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cache-control", "no-store"),
    (
        "content-security-policy",
        "default-src 'none'; frame-ancestors 'none'",
    ),
];

/// The outermost layer: gives every request an id, writes every error in the one JSON shape
/// with that id, adds security headers and records metrics.
async fn envelope(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let start = Instant::now();
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|s| valid_request_id(s))
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    let id_value = HeaderValue::from_str(&id).unwrap_or_else(|_| HeaderValue::from_static(""));
    req.headers_mut().insert(REQUEST_ID, id_value.clone());
    let method = req.method().clone();

    let res = next.run(req).await;
    let (mut parts, body) = res.into_parts();
    let status = parts.status;
    let body = if status.is_client_error() || status.is_server_error() {
        let info = parts.extensions.remove::<ErrorInfo>().unwrap_or_else(|| {
            let e = ApiError::for_bare_status(status);
            ErrorInfo {
                code: e.code,
                message: e.message,
            }
        });
        let json = serde_json::json!({
            "error": { "code": info.code, "message": info.message, "request_id": id }
        });
        parts.headers.remove(header::CONTENT_LENGTH);
        parts.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        Body::from(json.to_string())
    } else {
        body
    };
    parts.headers.insert(REQUEST_ID, id_value);
    for (name, value) in SECURITY_HEADERS {
        // The web UI's own pages loosen the policy to their own scripts and styles.
        if name == "content-security-policy" && parts.headers.contains_key(name) {
            continue;
        }
        parts.headers.insert(name, HeaderValue::from_static(value));
    }
    let route = parts
        .extensions
        .get::<RouteLabel>()
        .map_or("unmatched", |r| r.0.as_str());
    state
        .metrics
        .record(&method, route, status.as_u16(), start.elapsed());
    Response::from_parts(parts, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids() {
        assert!(valid_request_id("abc-123_x.y:z"));
        assert!(!valid_request_id(""));
        assert!(!valid_request_id("a b"));
        assert!(!valid_request_id(&"a".repeat(129)));
    }
}

//! What the HTTP tests share: the real pipeline (loaded once), a server on a loopback port with
//! a real SQLite store in a temporary directory, and request helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use base64::Engine;
use facenet_core::batch::BatchConfig;
use facenet_core::Pipeline;
use facenet_server::{AppState, Limits, Role, StaticKeys};
use facenet_store::{Crypto, SqliteStore, Store};
use reqwest::{Method, StatusCode};
use serde_json::Value;

pub const KEYS: [(&str, Role); 4] = [
    ("admin-secret", Role::Admin),
    ("operator-secret", Role::Operator),
    ("client-secret", Role::Client),
    ("auditor-secret", Role::Auditor),
];

pub fn pipeline() -> Arc<Pipeline> {
    static P: OnceLock<Arc<Pipeline>> = OnceLock::new();
    P.get_or_init(|| {
        let dir = facenet_core::paths::default_package_dir();
        let p = Pipeline::open(&dir, Default::default()).unwrap_or_else(|e| {
            panic!("cannot open the model package (run `facenet models fetch`): {e}")
        });
        Arc::new(p)
    })
    .clone()
}

pub fn photos() -> Option<PathBuf> {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/photos/test_images");
    if dir.join("obama.jpg").exists() {
        Some(dir)
    } else {
        eprintln!(
            "\n!!!!!!!! SKIPPED: test photos not found at {} !!!!!!!!\n",
            dir.display()
        );
        None
    }
}

/// `../shared/data/photos`, or `None` with a loud message.
pub fn photos_root() -> Option<PathBuf> {
    photos().and_then(|d| d.parent().map(Path::to_path_buf))
}

pub fn photo(dir: &std::path::Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap()
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub struct Server {
    pub base: String,
    pub state: AppState,
    pub http: reqwest::Client,
    pub stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
    pub store: Arc<dyn Store>,
    /// The database and master key; removed when the server is dropped.
    pub dir: tempfile::TempDir,
}

impl Server {
    pub async fn start(limits: Limits, batch: BatchConfig) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(dir.path());
        let auth = Arc::new(StaticKeys::new(KEYS));
        let state = AppState::new(pipeline(), batch, auth, store.clone(), limits).unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(facenet_server::serve(listener, state.clone(), async {
            let _ = stopped.await;
        }));
        Server {
            base: format!("http://{addr}"),
            state,
            http: reqwest::Client::new(),
            stop: Some(stop),
            task,
            store,
            dir,
        }
    }

    pub async fn default() -> Server {
        Server::start(Limits::default(), BatchConfig::default()).await
    }

    pub fn req(&self, method: Method, path: &str, key: Option<&str>) -> reqwest::RequestBuilder {
        let r = self.http.request(method, format!("{}{path}", self.base));
        match key {
            Some(k) => r.header("x-api-key", k),
            None => r,
        }
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let res = self
            .req(Method::POST, path, Some("client-secret"))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = res.status();
        (status, res.json().await.unwrap())
    }
}

/// Sends a request and checks the error contract: status, code, message, and a request id that
/// matches the header.
pub async fn expect_error(r: reqwest::RequestBuilder, status: u16, code: &str) {
    let res = r.send().await.unwrap();
    assert_eq!(res.status().as_u16(), status, "expected {code}");
    let header = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    let v: Value = res.json().await.unwrap();
    let e = &v["error"];
    assert_eq!(e["code"], code, "{v}");
    assert!(!e["message"].as_str().unwrap().is_empty());
    assert_eq!(e["request_id"].as_str().unwrap(), header);
    assert!(!header.is_empty());
}

pub fn png(width: u32, height: u32) -> Vec<u8> {
    let img = facenet_core::image::RgbImage::new(width, height);
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, facenet_core::image::ImageFormat::Png)
        .unwrap();
    out.into_inner()
}

pub fn open_store(dir: &Path) -> Arc<dyn Store> {
    let (crypto, _) = Crypto::load(dir).unwrap();
    Arc::new(SqliteStore::open(dir, crypto).unwrap())
}

//! Load generator against the service on loopback: `cargo bench -p facenet-server --bench load`.
//!
//! Starts the real service (real models, SQLite in a temporary directory, rate limits off) in
//! this process and drives `/verify` and `/recognize` with closed-loop clients at concurrency 1,
//! 8 and 32, with the batching queue at max batch 32 and, as the baseline measured in the same
//! run, at max batch 1. Then recognition latency over a synthetic 100,000-template gallery.
//! `FACENET_BENCH_SECS` sets the seconds per cell (default 5), `FACENET_BENCH_MAX_WAIT_MS` the
//! queue's max wait (default 0, as `facenet serve`). Needs `../shared` photos.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use facenet_core::batch::BatchConfig;
use facenet_core::Pipeline;
use facenet_server::{AppState, Limits, Role, StaticKeys};
use facenet_store::{Crypto, SqliteStore, Store};
use reqwest::multipart::{Form, Part};

const KEY: &str = "bench-key";

/// Two photos of one person: `a` is enrolled and verified against `b`, `b` is recognised.
struct Photos {
    label: &'static str,
    a: Vec<u8>,
    b: Vec<u8>,
}

async fn start(
    pipeline: Arc<Pipeline>,
    max_batch: usize,
    dir: &std::path::Path,
) -> (String, AppState) {
    let (crypto, _) = Crypto::load(dir).expect("master key");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir, crypto).expect("store"));
    let auth = Arc::new(StaticKeys::new([(KEY, Role::Admin)]));
    let batch = BatchConfig {
        max_batch,
        max_wait: std::time::Duration::from_millis(env_or("FACENET_BENCH_MAX_WAIT_MS", 0)),
        ..BatchConfig::default()
    };
    let limits = Limits {
        rate: None,
        ..Limits::default()
    };
    let state = AppState::new(pipeline, batch, auth, store, limits).expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let s = state.clone();
    tokio::spawn(async move { facenet_server::serve(listener, s, std::future::pending()).await });
    (format!("http://{addr}"), state)
}

/// Closed loop: `clients` tasks each send the next request when the last answers.
async fn drive(
    url: &str,
    clients: usize,
    secs: f64,
    form: impl Fn() -> Form + Send + Sync + 'static,
) -> (f64, f64, f64, usize) {
    let http = reqwest::Client::new();
    let form = Arc::new(form);
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (http, url, form) = (http.clone(), url.to_owned(), form.clone());
            tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut errors = 0;
                while Instant::now() < end {
                    let t = Instant::now();
                    let res = http
                        .post(&url)
                        .header("x-api-key", KEY)
                        .multipart(form())
                        .send()
                        .await;
                    match res {
                        Ok(r) if r.status().is_success() => {
                            let _ = r.bytes().await;
                            lat.push(t.elapsed().as_secs_f64());
                        }
                        _ => errors += 1,
                    }
                }
                (lat, errors)
            })
        })
        .collect();
    let start = Instant::now();
    let mut lat = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.expect("client");
        lat.extend(l);
        errors += e;
    }
    let wall = start.elapsed().as_secs_f64();
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    (
        lat.len() as f64 / wall,
        pct(0.5) * 1e3,
        pct(0.99) * 1e3,
        errors,
    )
}

/// LFW's 250×250 photos (the size a login or door camera crop is) and full-size portraits
/// (910×1137 and 626×1200), where MTCNN's pyramid costs several times more.
fn photo_sets() -> Option<Vec<Photos>> {
    let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    let read = |p: &str| std::fs::read(shared.join(p)).ok();
    Some(vec![
        Photos {
            label: "lfw 250px",
            a: read("lfw/images/Aaron_Peirsol/Aaron_Peirsol_0001.jpg")?,
            b: read("lfw/images/Aaron_Peirsol/Aaron_Peirsol_0002.jpg")?,
        },
        Photos {
            label: "portrait 1MP",
            a: read("photos/test_images/obama.jpg")?,
            b: read("photos/test_images/obama2.jpg")?,
        },
    ])
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let Some(sets) = photo_sets() else {
        eprintln!("SKIPPED: ../shared/data/photos is missing");
        return;
    };
    let secs: f64 = env_or("FACENET_BENCH_SECS", 5.0);
    let pipeline = Arc::new(
        Pipeline::open(
            &facenet_core::paths::default_package_dir(),
            Default::default(),
        )
        .expect("models (run `facenet models fetch`)"),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run(pipeline, sets, secs));
}

async fn run(pipeline: Arc<Pipeline>, sets: Vec<Photos>, secs: f64) {
    println!(
        "service load, {secs} s per cell, closed-loop clients on loopback, 2 images per verify"
    );
    println!(
        "{:<13} {:<10} {:>9} {:>5} {:>9} {:>9} {:>9} {:>6}",
        "images", "route", "max_batch", "conc", "req/s", "p50 ms", "p99 ms", "errors"
    );
    for p in sets {
        cells(&pipeline, Arc::new(p), secs).await;
    }
    gallery_scan(&pipeline);
}

/// A server with one enrolled person, so that recognize does a real search.
async fn enrolled_server(
    pipeline: &Arc<Pipeline>,
    max_batch: usize,
    dir: &std::path::Path,
    p: &Photos,
) -> (String, AppState) {
    let (base, state) = start(pipeline.clone(), max_batch, dir).await;
    let sid = state
        .gallery
        .store
        .create_subject(
            &facenet_store::AuditCtx::cli(),
            "bench",
            serde_json::Value::Null,
        )
        .expect("subject");
    let form = Form::new().part("file", Part::bytes(p.a.clone()).file_name("a.jpg"));
    let r = reqwest::Client::new()
        .post(format!("{base}/api/v1/subjects/{}/faces", sid.id))
        .header("x-api-key", KEY)
        .multipart(form)
        .send()
        .await
        .expect("enroll");
    assert!(r.status().is_success());
    (base, state)
}

/// Every cell runs on the batch-1 server and then at once on the batching one, so that the
/// baseline and the figure it is compared with share the machine's state of the moment.
async fn cells(pipeline: &Arc<Pipeline>, p: Arc<Photos>, secs: f64) {
    let dirs = [
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    ];
    let mut servers = Vec::new();
    for (max_batch, dir) in [1usize, 32].into_iter().zip(&dirs) {
        let (base, state) = enrolled_server(pipeline, max_batch, dir.path(), &p).await;
        servers.push((max_batch, base, state));
    }
    for conc in [1usize, 8, 32] {
        for route in ["verify", "recognize"] {
            for (max_batch, base, _) in &servers {
                let pf = p.clone();
                let form = move || match route {
                    "verify" => Form::new()
                        .part("file1", Part::bytes(pf.a.clone()).file_name("a.jpg"))
                        .part("file2", Part::bytes(pf.b.clone()).file_name("b.jpg")),
                    _ => Form::new().part("file", Part::bytes(pf.b.clone()).file_name("b.jpg")),
                };
                let url = format!("{base}/api/v1/{route}");
                let (rps, p50, p99, err) = drive(&url, conc, secs, form).await;
                println!(
                    "{:<13} {:<10} {:>9} {:>5} {:>9.1} {:>9.1} {:>9.1} {:>6}",
                    p.label, route, max_batch, conc, rps, p50, p99, err
                );
            }
        }
    }
    for (max_batch, _, state) in &servers {
        let stats = state.batcher.stats();
        println!(
            "  {} max_batch {max_batch}: {} embedder runs for {} faces (mean batch {:.1})",
            p.label,
            stats.batches,
            stats.faces,
            stats.faces as f64 / stats.batches.max(1) as f64
        );
    }
}

/// Search time over 100,000 random unit templates (the index a 100k gallery decrypts into at
/// start), against the time to embed the probe face measured in the same run.
fn gallery_scan(pipeline: &Pipeline) {
    let dim = pipeline.package.manifest.embedding_size;
    let mut ix = facenet_server::index::Index::new(dim);
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let n = 100_000;
    let t = Instant::now();
    for i in 0..n {
        let v: Vec<f32> = (0..dim).map(|_| next()).collect();
        ix.insert(&format!("f{i}"), &format!("s{}", i / 4), &v);
    }
    let build = t.elapsed();
    let queries: Vec<Vec<f32>> = (0..50)
        .map(|_| (0..dim).map(|_| next()).collect())
        .collect();
    let mut times = Vec::new();
    for q in &queries {
        let t = Instant::now();
        std::hint::black_box(ix.search(q, 5, 1.129));
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    let faces = vec![facenet_core::image::RgbImage::new(160, 160)];
    let _ = pipeline.embedder.embed(&faces);
    let t = Instant::now();
    for _ in 0..5 {
        let _ = pipeline.embedder.embed(&faces);
    }
    let embed_ms = t.elapsed().as_secs_f64() * 1e3 / 5.0;
    println!(
        "1:N exact scan over {n} templates ({dim}-d, {} MB): p50 {:.2} ms, p99 {:.2} ms (index built in {:.1} s); one face embedding {:.1} ms in the same run (scan/embed {:.2})",
        n * dim * 4 / 1_000_000,
        times[times.len() / 2],
        times[times.len() * 99 / 100],
        build.as_secs_f64(),
        embed_ms,
        times[times.len() / 2] / embed_ms
    );
}

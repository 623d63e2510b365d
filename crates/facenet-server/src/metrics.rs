//! Prometheus text exposition, written by hand: the few series here do not need a metrics stack.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

use facenet_core::batch::Batcher;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Default)]
struct Histogram {
    /// Parallel to `BUCKETS`, non-cumulative.
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Inner {
    /// (method, route, status) → count. Routes are matched patterns, so the label set is bounded.
    requests: BTreeMap<(&'static str, String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
}

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    pub fn record(&self, method: &axum::http::Method, route: &str, status: u16, took: Duration) {
        let method: &'static str = match method.as_str() {
            "GET" => "GET",
            "POST" => "POST",
            "PUT" => "PUT",
            "PATCH" => "PATCH",
            "DELETE" => "DELETE",
            "HEAD" => "HEAD",
            "OPTIONS" => "OPTIONS",
            // Arbitrary methods would make the label set unbounded.
            _ => "other",
        };
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        *inner
            .requests
            .entry((method, route.to_owned(), status))
            .or_default() += 1;
        let h = inner.latency.entry(route.to_owned()).or_default();
        let secs = took.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            h.counts[i] += 1;
        }
        h.count += 1;
        h.sum += secs;
    }

    pub fn render(&self, batcher: &Batcher, gallery_faces: usize) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = self.write(&mut out, batcher, gallery_faces);
        out
    }

    fn write(&self, out: &mut String, batcher: &Batcher, gallery_faces: usize) -> std::fmt::Result {
        if let Ok(inner) = self.inner.lock() {
            writeln!(
                out,
                "# HELP facenet_http_requests_total HTTP requests by route and status."
            )?;
            writeln!(out, "# TYPE facenet_http_requests_total counter")?;
            for ((method, route, status), n) in &inner.requests {
                writeln!(
                    out,
                    "facenet_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {n}",
                    escape(route)
                )?;
            }
            writeln!(
                out,
                "# HELP facenet_http_request_duration_seconds HTTP request latency."
            )?;
            writeln!(
                out,
                "# TYPE facenet_http_request_duration_seconds histogram"
            )?;
            for (route, h) in &inner.latency {
                let route = escape(route);
                let mut cumulative = 0;
                for (b, n) in BUCKETS.iter().zip(h.counts) {
                    cumulative += n;
                    writeln!(
                        out,
                        "facenet_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{b}\"}} {cumulative}"
                    )?;
                }
                writeln!(
                    out,
                    "facenet_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                    h.count
                )?;
                writeln!(
                    out,
                    "facenet_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                    h.sum
                )?;
                writeln!(
                    out,
                    "facenet_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                    h.count
                )?;
            }
        }
        let stats = batcher.stats();
        let series: [(&str, &str, &str, u64); 5] = [
            (
                "facenet_gallery_faces",
                "gauge",
                "Enrolled faces in the in-memory 1:N index.",
                gallery_faces as u64,
            ),
            (
                "facenet_embed_queue_depth",
                "gauge",
                "Embedding jobs waiting or running.",
                batcher.queue_depth() as u64,
            ),
            (
                "facenet_embed_batches_total",
                "counter",
                "Embedder runs made by the batching queue.",
                stats.batches,
            ),
            (
                "facenet_embed_jobs_total",
                "counter",
                "Embedding jobs (one per request image) served.",
                stats.jobs,
            ),
            (
                "facenet_embed_faces_total",
                "counter",
                "Faces embedded.",
                stats.faces,
            ),
        ];
        for (name, kind, help, value) in series {
            writeln!(out, "# HELP {name} {help}")?;
            writeln!(out, "# TYPE {name} {kind}")?;
            writeln!(out, "{name} {value}")?;
        }
        Ok(())
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

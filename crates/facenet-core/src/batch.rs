//! A dynamic batching queue in front of the embedder, as text-embeddings-inference does it.
//!
//! One thread owns the model. Callers send jobs (one or more aligned faces) over a bounded
//! channel and wait for their own answer. The worker takes the first waiting job, keeps adding
//! jobs until the batch is full or the oldest job has waited `max_wait`, runs the model once and
//! hands each job its slice of the result. A full queue is refused at once ([`Error::Busy`]) so
//! that a server can answer 503 instead of piling up requests.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use image::RgbImage;

use crate::error::{Error, Result};

#[derive(Debug, Clone)]
pub struct BatchConfig {
    /// Faces per model run (a single larger job still runs whole, in the model's own chunks).
    pub max_batch: usize,
    /// How long the first job of a batch may wait for company. Zero still batches: the jobs that
    /// queued while the model ran go together into the next run, which on the load bench gave the
    /// same throughput gain as 5 ms without 5 ms of latency at low concurrency.
    pub max_wait: Duration,
    /// Jobs that may wait; one more is refused.
    pub queue_capacity: usize,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_batch: 32,
            max_wait: Duration::ZERO,
            queue_capacity: 256,
        }
    }
}

/// What the queue has done, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchStats {
    pub batches: u64,
    pub jobs: u64,
    pub faces: u64,
}

type EmbedFn = dyn Fn(&[RgbImage]) -> Result<Vec<Vec<f32>>> + Send + Sync;

struct Job {
    faces: Vec<RgbImage>,
    reply: mpsc::Sender<Result<Vec<Vec<f32>>>>,
    span: tracing::Span,
}

#[derive(Default)]
struct Counters {
    depth: AtomicUsize,
    batches: AtomicU64,
    jobs: AtomicU64,
    faces: AtomicU64,
}

pub struct Batcher {
    tx: Option<SyncSender<Job>>,
    counters: Arc<Counters>,
    worker: Option<JoinHandle<()>>,
}

impl Batcher {
    /// Starts the worker thread around `embed` (normally `FaceNet::embed` of a shared pipeline).
    pub fn spawn(
        config: BatchConfig,
        embed: impl Fn(&[RgbImage]) -> Result<Vec<Vec<f32>>> + Send + Sync + 'static,
    ) -> Self {
        let (tx, rx) = mpsc::sync_channel(config.queue_capacity.max(1));
        let counters = Arc::new(Counters::default());
        let c = Arc::clone(&counters);
        let embed: Box<EmbedFn> = Box::new(embed);
        let worker = std::thread::Builder::new()
            .name("facenet-batcher".into())
            .spawn(move || run(rx, &config, &*embed, &c))
            .ok();
        Batcher {
            tx: Some(tx),
            counters,
            worker,
        }
    }

    /// Embeds `faces` in whatever batch the queue forms; blocks until the answer is there.
    pub fn embed(&self, faces: Vec<RgbImage>) -> Result<Vec<Vec<f32>>> {
        if faces.is_empty() {
            return Ok(Vec::new());
        }
        let tx = self.tx.as_ref().ok_or_else(stopped)?;
        let (reply, answer) = mpsc::channel();
        let job = Job {
            faces,
            reply,
            span: tracing::Span::current(),
        };
        self.counters.depth.fetch_add(1, Ordering::Relaxed);
        match tx.try_send(job) {
            Ok(()) => {}
            Err(e) => {
                self.counters.depth.fetch_sub(1, Ordering::Relaxed);
                return Err(match e {
                    TrySendError::Full(_) => Error::Busy,
                    TrySendError::Disconnected(_) => stopped(),
                });
            }
        }
        answer.recv().map_err(|_| stopped())?
    }

    /// Jobs waiting or being run.
    pub fn queue_depth(&self) -> usize {
        self.counters.depth.load(Ordering::Relaxed)
    }

    pub fn stats(&self) -> BatchStats {
        BatchStats {
            batches: self.counters.batches.load(Ordering::Relaxed),
            jobs: self.counters.jobs.load(Ordering::Relaxed),
            faces: self.counters.faces.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Batcher {
    /// Closing the channel lets the worker finish the jobs already queued, then exit.
    fn drop(&mut self) {
        self.tx.take();
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

fn stopped() -> Error {
    Error::Runtime("the batching queue has stopped".into())
}

fn run(rx: Receiver<Job>, config: &BatchConfig, embed: &EmbedFn, c: &Counters) {
    while let Ok(first) = rx.recv() {
        let deadline = Instant::now() + config.max_wait;
        let mut faces = first.faces.len();
        let mut jobs = vec![first];
        while faces < config.max_batch {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(job) => {
                    faces += job.faces.len();
                    jobs.push(job);
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
        run_batch(jobs, embed, c);
    }
}

fn run_batch(mut jobs: Vec<Job>, embed: &EmbedFn, c: &Counters) {
    let sizes: Vec<usize> = jobs.iter().map(|j| j.faces.len()).collect();
    let all: Vec<RgbImage> = jobs
        .iter_mut()
        .flat_map(|j| std::mem::take(&mut j.faces))
        .collect();
    let _span = tracing::debug_span!("embed_batch", jobs = jobs.len(), faces = all.len()).entered();
    let result = embed(&all);
    c.batches.fetch_add(1, Ordering::Relaxed);
    c.jobs.fetch_add(jobs.len() as u64, Ordering::Relaxed);
    c.faces.fetch_add(all.len() as u64, Ordering::Relaxed);
    let mut embeddings = match result {
        Ok(e) if e.len() == all.len() => Some(e.into_iter()),
        Ok(e) => {
            let msg = format!(
                "model returned {} embeddings for {} faces",
                e.len(),
                all.len()
            );
            reply_all(jobs, c, &msg);
            return;
        }
        Err(e) => {
            reply_all(jobs, c, &e.to_string());
            return;
        }
    };
    for (job, n) in jobs.into_iter().zip(sizes) {
        let _in_request = job.span.enter();
        let mine: Vec<Vec<f32>> = embeddings
            .as_mut()
            .map(|it| it.by_ref().take(n).collect())
            .unwrap_or_default();
        c.depth.fetch_sub(1, Ordering::Relaxed);
        // A caller that stopped waiting simply does not read its answer.
        let _ = job.reply.send(Ok(mine));
    }
}

fn reply_all(jobs: Vec<Job>, c: &Counters, msg: &str) {
    for job in jobs {
        c.depth.fetch_sub(1, Ordering::Relaxed);
        let _ = job.reply.send(Err(Error::Runtime(msg.to_string())));
    }
}

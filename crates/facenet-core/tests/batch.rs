//! The batching queue: concurrent callers get exactly the embeddings a direct call gives, in
//! fewer model runs; a full queue is refused at once.

mod common;

use std::sync::{mpsc, Arc, Barrier, Mutex};
use std::time::Duration;

use common::{pipeline, shared_dir};
use facenet_core::batch::{BatchConfig, Batcher};
use facenet_core::decode::{decode_path, DecodeLimits};
use facenet_core::image::RgbImage;

#[test]
fn concurrent_callers_are_batched_and_get_their_own_embeddings() {
    let Some(shared) = shared_dir("batching queue") else {
        return;
    };
    let p = pipeline();
    let dir = shared.join("reference/aligned");
    let mut pngs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|x| x.extension().is_some_and(|e| e == "png"))
        .collect();
    pngs.sort();
    let crops: Vec<RgbImage> = pngs
        .iter()
        .take(8)
        .map(|x| decode_path(x, &DecodeLimits::default()).unwrap().image)
        .collect();
    let direct: Vec<Vec<f32>> = crops
        .iter()
        .map(|c| p.embedder.embed(std::slice::from_ref(c)).unwrap().remove(0))
        .collect();

    let config = BatchConfig {
        max_batch: 32,
        max_wait: Duration::from_millis(50),
        queue_capacity: 64,
    };
    let batcher = Arc::new(Batcher::spawn(config, move |faces: &[RgbImage]| {
        p.embedder.embed(faces)
    }));
    let start = Arc::new(Barrier::new(crops.len()));
    let handles: Vec<_> = crops
        .iter()
        .cloned()
        .map(|c| {
            let b = Arc::clone(&batcher);
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                start.wait();
                b.embed(vec![c]).unwrap().remove(0)
            })
        })
        .collect();
    for (h, want) in handles.into_iter().zip(&direct) {
        let got = h.join().unwrap();
        let diff = got
            .iter()
            .zip(want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(diff <= 1e-6, "a queued face's embedding moved by {diff}");
    }
    let stats = batcher.stats();
    eprintln!("batching: {stats:?}");
    assert_eq!(stats.jobs, 8);
    assert_eq!(stats.faces, 8);
    assert!(
        stats.batches < 8,
        "8 simultaneous callers ran in {} batches",
        stats.batches
    );
    assert_eq!(batcher.queue_depth(), 0);
}

#[test]
fn a_full_queue_is_refused_at_once() {
    // The model here is a gate the test opens, so that the queue fills deterministically; the
    // real model is exercised by the test above.
    let (open, gate) = mpsc::channel::<()>();
    let gate = Mutex::new(gate);
    let (entered_tx, entered) = mpsc::channel::<()>();
    let entered_tx = Mutex::new(entered_tx);
    let config = BatchConfig {
        max_batch: 1,
        max_wait: Duration::ZERO,
        queue_capacity: 1,
    };
    let batcher = Arc::new(Batcher::spawn(config, move |faces: &[RgbImage]| {
        entered_tx.lock().unwrap().send(()).unwrap();
        gate.lock().unwrap().recv().unwrap();
        Ok(faces.iter().map(|_| vec![0.0; 4]).collect())
    }));
    let face = || vec![RgbImage::new(2, 2)];
    // One job runs (blocked on the gate), one waits in the queue, the third is refused.
    let b1 = Arc::clone(&batcher);
    let running = std::thread::spawn(move || b1.embed(face()));
    // The worker has taken the first job off the queue and is inside the model.
    entered.recv().unwrap();
    let b2 = Arc::clone(&batcher);
    let queued = std::thread::spawn(move || b2.embed(face()));
    while batcher.queue_depth() < 2 {
        std::thread::yield_now();
    }
    let err = batcher.embed(face()).unwrap_err();
    assert_eq!(err.code(), "queue_full");
    open.send(()).unwrap();
    open.send(()).unwrap();
    assert_eq!(running.join().unwrap().unwrap().len(), 1);
    assert_eq!(queued.join().unwrap().unwrap().len(), 1);
    assert_eq!(batcher.stats().jobs, 2);
}

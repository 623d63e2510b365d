//! The stateless face routes: detect, embed, verify.

use std::path::Path;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use facenet_core::distance::cosine_similarity;
use facenet_core::image::RgbImage;
use facenet_core::{Face, Metric};
use serde::Serialize;

use crate::error::ApiError;
use crate::extract::{blocking, Caller};
use crate::images::{OneImage, TwoImages};
use crate::AppState;
use facenet_store::AuditCtx;

/// Which faces to embed.
#[derive(Clone, Copy)]
pub(crate) enum Want {
    None,
    All,
    Main,
}

pub(crate) struct Analysed {
    pub width: u32,
    pub height: u32,
    pub faces: Vec<Face>,
    pub selected: Option<usize>,
    /// Parallel to `faces`.
    pub embeddings: Vec<Option<Vec<f32>>>,
}

/// Decodes, detects and aligns on the blocking pool, then embeds through the shared batcher so
/// that concurrent requests share model runs. `label` names the upload in error messages.
pub(crate) async fn analyse(
    state: &AppState,
    bytes: Bytes,
    label: &'static str,
    want: Want,
) -> Result<Analysed, ApiError> {
    let pipeline = state.pipeline.clone();
    let batcher = state.batcher.clone();
    // The span travels with the work so that queue and model time show under this request.
    let span = tracing::Span::current();
    let task = tokio::task::spawn_blocking(move || -> Result<Analysed, ApiError> {
        let _in_request = span.enter();
        let limits = &pipeline.options.limits;
        let img = facenet_core::decode::decode_bytes(&bytes, Path::new(label), limits)?.image;
        drop(bytes);
        let faces = pipeline.detect(&img)?;
        let selected = pipeline.select(&img, &faces);
        let wanted: Vec<usize> = match want {
            Want::None => Vec::new(),
            Want::All => (0..faces.len()).collect(),
            Want::Main => selected.into_iter().collect(),
        };
        let (index, crops): (Vec<usize>, Vec<RgbImage>) = wanted
            .into_iter()
            .filter_map(|i| pipeline.aligned(&img, &faces[i]).map(|c| (i, c)))
            .unzip();
        let mut embeddings = vec![None; faces.len()];
        for (i, e) in index.into_iter().zip(batcher.embed(crops)?) {
            embeddings[i] = Some(e);
        }
        Ok(Analysed {
            width: img.width(),
            height: img.height(),
            faces,
            selected,
            embeddings,
        })
    });
    task.await.map_err(|e| {
        tracing::error!(error = %e, "image task failed");
        ApiError::internal()
    })?
}

/// One face as the API shows it. Typed rather than a `Value` so that `f32`s print shortest
/// (`1.129`, not `1.128999948501587`), which also keeps embeddings compact.
#[derive(Serialize)]
pub(crate) struct FaceOut<'a> {
    #[serde(rename = "box")]
    bbox: [f64; 4],
    score: f64,
    landmarks: [[f64; 2]; 5],
    #[serde(skip_serializing_if = "Option::is_none")]
    embedding: Option<&'a [f32]>,
}

impl<'a> FaceOut<'a> {
    pub(crate) fn new(face: &Face, embedding: Option<&'a [f32]>) -> Self {
        FaceOut {
            bbox: face.bbox,
            score: face.score,
            landmarks: face.landmarks,
            embedding,
        }
    }
}

#[derive(Serialize)]
struct Detection<'a> {
    faces: Vec<FaceOut<'a>>,
    width: u32,
    height: u32,
}

#[derive(Serialize)]
pub(crate) struct Verification<'a> {
    verified: bool,
    distance: f32,
    similarity: f32,
    threshold: f32,
    metric: &'static str,
    face1: FaceOut<'a>,
    face2: FaceOut<'a>,
}

fn faces_json(a: &Analysed, with_embeddings: bool) -> Response {
    let faces = a
        .faces
        .iter()
        .zip(&a.embeddings)
        .map(|(f, e)| FaceOut::new(f, e.as_deref().filter(|_| with_embeddings)))
        .collect();
    Json(Detection {
        faces,
        width: a.width,
        height: a.height,
    })
    .into_response()
}

pub async fn detect(
    State(state): State<AppState>,
    OneImage(bytes): OneImage,
) -> Result<Response, ApiError> {
    let a = analyse(&state, bytes, "image", Want::None).await?;
    Ok(faces_json(&a, false))
}

pub async fn embed(
    State(state): State<AppState>,
    OneImage(bytes): OneImage,
) -> Result<Response, ApiError> {
    let a = analyse(&state, bytes, "image", Want::All).await?;
    Ok(faces_json(&a, true))
}

/// The main face and its embedding, or `no_face` naming the image.
fn main_face(a: &Analysed, which: &str) -> Result<(Face, Vec<f32>), ApiError> {
    a.selected
        .and_then(|i| Some((a.faces.get(i)?.clone(), a.embeddings.get(i)?.clone()?)))
        .ok_or_else(|| ApiError::no_face(which))
}

pub async fn verify(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    TwoImages(b1, b2): TwoImages,
) -> Result<Response, ApiError> {
    let result = verify_pair(&state, b1, b2).await;
    let (target, outcome) = match &result {
        Ok(v) => (format!("verified={}", v.verified), "ok"),
        Err(e) => (String::from("-"), e.code),
    };
    audit(&state, ctx, "verify", target, outcome).await?;
    Ok(Json(result?).into_response())
}

/// Appends a row for a read-only biometric operation. If it cannot be written the request
/// fails: a comparison that leaves no trace is what the audit log exists to prevent.
pub(crate) async fn audit(
    state: &AppState,
    ctx: AuditCtx,
    action: &'static str,
    target: String,
    outcome: &'static str,
) -> Result<(), ApiError> {
    let store = state.gallery.store.clone();
    blocking(move || {
        store.record(&ctx, action, &target, outcome)?;
        Ok(())
    })
    .await
}

async fn verify_pair(
    state: &AppState,
    b1: Bytes,
    b2: Bytes,
) -> Result<Verification<'static>, ApiError> {
    // Both images in flight at once, so their faces can share one embedder batch.
    let (a1, a2) = tokio::join!(
        analyse(state, b1, "image1", Want::Main),
        analyse(state, b2, "image2", Want::Main)
    );
    let (f1, e1) = main_face(&a1?, "image1")?;
    let (f2, e2) = main_face(&a2?, "image2")?;
    let metric = Metric::L2;
    let distance = metric.distance(&e1, &e2);
    let threshold = state.pipeline.threshold(metric);
    Ok(Verification {
        // `<=` as the CLI's `compare` decides sameness.
        verified: distance <= threshold,
        distance,
        similarity: cosine_similarity(&e1, &e2),
        threshold,
        metric: metric.name(),
        face1: FaceOut::new(&f1, None),
        face2: FaceOut::new(&f2, None),
    })
}

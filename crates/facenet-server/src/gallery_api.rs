//! The gallery routes: subjects, their enrolled faces, and 1:N recognition against them.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use facenet_store::{FaceRecord, Subject};
use serde::{Deserialize, Serialize};

use crate::api::{analyse, FaceOut, Want};
use crate::error::ApiError;
use crate::extract::{blocking, Caller, JsonBody, Page, Params};
use crate::images::OneImage;
use crate::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSubject {
    name: String,
    #[serde(default)]
    metadata: serde_json::Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectPatch {
    name: Option<String>,
    metadata: Option<serde_json::Value>,
}

/// A face as the API shows it: the store's record with the box under the API's name.
#[derive(Serialize)]
struct FaceJson {
    id: String,
    subject_id: String,
    model_version: String,
    #[serde(rename = "box")]
    bbox: [f32; 4],
    dim: u32,
    created_at: String,
}

impl From<FaceRecord> for FaceJson {
    fn from(r: FaceRecord) -> Self {
        FaceJson {
            id: r.id,
            subject_id: r.subject_id,
            model_version: r.model_version,
            bbox: r.bbox,
            dim: r.dim,
            created_at: r.created_at,
        }
    }
}

pub async fn create_subject(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    JsonBody(body): JsonBody<NewSubject>,
) -> Result<Response, ApiError> {
    let store = state.gallery.store.clone();
    let s = blocking(move || Ok(store.create_subject(&ctx, &body.name, body.metadata)?)).await?;
    Ok((StatusCode::CREATED, Json(s)).into_response())
}

#[derive(Serialize)]
struct SubjectPage {
    subjects: Vec<Subject>,
    total: u64,
    offset: u64,
    limit: u32,
}

pub async fn list_subjects(
    State(state): State<AppState>,
    Params(page): Params<Page>,
) -> Result<Response, ApiError> {
    let (offset, limit) = page.checked()?;
    let store = state.gallery.store.clone();
    let (subjects, total) =
        blocking(move || Ok((store.list_subjects(offset, limit)?, store.count_subjects()?)))
            .await?;
    Ok(Json(SubjectPage {
        subjects,
        total,
        offset,
        limit,
    })
    .into_response())
}

pub async fn get_subject(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let store = state.gallery.store.clone();
    let s = blocking(move || Ok(store.get_subject(&id)?)).await?;
    Ok(Json(s).into_response())
}

pub async fn patch_subject(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
    JsonBody(patch): JsonBody<SubjectPatch>,
) -> Result<Response, ApiError> {
    let store = state.gallery.store.clone();
    let s = blocking(move || {
        Ok(store.update_subject(&ctx, &id, patch.name.as_deref(), patch.metadata)?)
    })
    .await?;
    Ok(Json(s).into_response())
}

pub async fn delete_subject(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let gallery = state.gallery.clone();
    let (id, n) = blocking(move || {
        let n = gallery.delete_subject(&ctx, &id)?;
        Ok((id, n))
    })
    .await?;
    Ok(Json(serde_json::json!({ "deleted": id, "faces_erased": n })).into_response())
}

/// A face at least this many times larger (by box area) than every other in the photo is taken
/// as the one meant. The others are background faces or detector false positives: the original
/// MTCNN finds a 0.94-score "face" one fifteenth the size of the portrait in obama.jpg. People
/// of comparable size in one photo are refused, since which one was meant cannot be guessed.
pub const DOMINANT_AREA_RATIO: f64 = 4.0;

fn area(f: &facenet_core::Face) -> f64 {
    let [x1, y1, x2, y2] = f.bbox;
    (x2 - x1).max(0.0) * (y2 - y1).max(0.0)
}

/// The index of the photo's one clearly dominant face, or the error enrolment answers with.
pub fn dominant_face(faces: &[facenet_core::Face]) -> Result<usize, ApiError> {
    let mut order: Vec<usize> = (0..faces.len()).collect();
    order.sort_by(|&a, &b| area(&faces[b]).total_cmp(&area(&faces[a])));
    match order.as_slice() {
        [] => Err(ApiError::no_face("image")),
        [only] => Ok(*only),
        [first, second, ..]
            if area(&faces[*first]) >= DOMINANT_AREA_RATIO * area(&faces[*second]) =>
        {
            Ok(*first)
        }
        _ => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "multiple_faces",
            format!(
                "the image holds {} faces of similar size; enroll from a photo of one person",
                faces.len()
            ),
        )),
    }
}

#[derive(Serialize)]
struct Enrolled {
    #[serde(flatten)]
    face: FaceJson,
    /// Smaller faces in the photo that were not enrolled.
    ignored_faces: usize,
}

/// Enrolls the one face of a photo (see [`DOMINANT_AREA_RATIO`]). A photo with no face or with
/// several of similar size is refused before anything is stored.
pub async fn enroll(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    Path(subject_id): Path<String>,
    OneImage(bytes): OneImage,
) -> Result<Response, ApiError> {
    // A missing subject is reported before the image costs any model time.
    let store = state.gallery.store.clone();
    let sid = subject_id.clone();
    blocking(move || Ok(store.get_subject(&sid)?)).await?;

    let a = analyse(&state, bytes, "image", Want::All).await?;
    let chosen = dominant_face(&a.faces)?;
    let (face, embedding) = match (a.faces.get(chosen), a.embeddings.get(chosen)) {
        (Some(f), Some(Some(e))) => (f.clone(), e.clone()),
        // The face touches no pixel once clipped, so nothing could be embedded.
        _ => return Err(ApiError::no_face("image")),
    };
    let bbox = face.bbox.map(|v| v as f32);
    let gallery = state.gallery.clone();
    let rec = blocking(move || gallery.enroll(&ctx, &subject_id, &embedding, bbox)).await?;
    let body = Enrolled {
        face: FaceJson::from(rec),
        ignored_faces: a.faces.len() - 1,
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

pub async fn list_faces(
    State(state): State<AppState>,
    Path(subject_id): Path<String>,
) -> Result<Response, ApiError> {
    let store = state.gallery.store.clone();
    let faces = blocking(move || Ok(store.list_faces(&subject_id)?)).await?;
    let faces: Vec<FaceJson> = faces.into_iter().map(FaceJson::from).collect();
    Ok(Json(serde_json::json!({ "faces": faces })).into_response())
}

pub async fn delete_face(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    Path(face_id): Path<String>,
) -> Result<Response, ApiError> {
    let gallery = state.gallery.clone();
    let rec = blocking(move || gallery.delete_face(&ctx, &face_id)).await?;
    Ok(
        Json(serde_json::json!({ "deleted": rec.id, "subject_id": rec.subject_id }))
            .into_response(),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecognizeQuery {
    #[serde(default = "default_candidates")]
    limit: usize,
}

fn default_candidates() -> usize {
    5
}

const MAX_CANDIDATES: usize = 100;

#[derive(Serialize)]
struct Candidate {
    subject: String,
    name: String,
    similarity: f32,
    distance: f32,
    face_id: String,
}

#[derive(Serialize)]
struct RecognizedFace<'a> {
    #[serde(flatten)]
    face: FaceOut<'a>,
    candidates: Vec<Candidate>,
}

#[derive(Serialize)]
struct Recognition<'a> {
    faces: Vec<RecognizedFace<'a>>,
    width: u32,
    height: u32,
    threshold: f32,
    metric: &'static str,
}

/// Every face in the photo against the whole gallery. Only subjects within the verification
/// threshold are candidates; an empty list means an unknown person, never a forced match.
pub async fn recognize(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    Params(q): Params<RecognizeQuery>,
    OneImage(bytes): OneImage,
) -> Result<Response, ApiError> {
    if !(1..=MAX_CANDIDATES).contains(&q.limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("limit must be 1..={MAX_CANDIDATES}"),
        ));
    }
    let result = recognize_faces(&state, bytes, q.limit).await;
    let (target, outcome) = match &result {
        Ok((_, hits)) => (matched_target(hits), "ok"),
        Err(e) => (String::from("-"), e.code),
    };
    crate::api::audit(&state, ctx, "recognize", target, outcome).await?;
    let (a, hits) = result?;
    let metric = facenet_core::Metric::L2;
    let faces = a
        .faces
        .iter()
        .zip(hits)
        .map(|(f, candidates)| RecognizedFace {
            face: FaceOut::new(f, None),
            candidates,
        })
        .collect();
    Ok(Json(Recognition {
        faces,
        width: a.width,
        height: a.height,
        threshold: state.pipeline.threshold(metric),
        metric: metric.name(),
    })
    .into_response())
}

/// The audit row names who was recognised (subject ids), never how (no scores or templates).
fn matched_target(hits: &[Vec<Candidate>]) -> String {
    let ids: Vec<&str> = hits
        .iter()
        .filter_map(|c| c.first().map(|c| c.subject.as_str()))
        .collect();
    format!("faces={};matched={}", hits.len(), ids.join(","))
}

async fn recognize_faces(
    state: &AppState,
    bytes: axum::body::Bytes,
    limit: usize,
) -> Result<(crate::api::Analysed, Vec<Vec<Candidate>>), ApiError> {
    let a = analyse(state, bytes, "image", Want::All).await?;
    // Nobody to recognise is the caller's mistake, not an unknown person: say so.
    if a.faces.is_empty() {
        return Err(ApiError::no_face("image"));
    }
    let threshold = state.pipeline.threshold(facenet_core::Metric::L2);
    let gallery = state.gallery.clone();
    let embeddings = a.embeddings.clone();
    let hits = blocking(move || {
        let mut names = std::collections::HashMap::<String, String>::new();
        let mut out = Vec::with_capacity(embeddings.len());
        for e in &embeddings {
            let hits = e
                .as_deref()
                .map(|e| gallery.search(e, limit, threshold))
                .unwrap_or_default();
            let mut cands = Vec::with_capacity(hits.len());
            for h in hits {
                let name = match names.get(&h.subject_id) {
                    Some(n) => n.clone(),
                    None => subject_name(&gallery.store, &h.subject_id)?,
                };
                names.insert(h.subject_id.clone(), name.clone());
                cands.push(Candidate {
                    subject: h.subject_id,
                    name,
                    similarity: h.similarity,
                    distance: h.distance,
                    face_id: h.face_id,
                });
            }
            out.push(cands);
        }
        Ok(out)
    })
    .await?;
    Ok((a, hits))
}

/// A subject deleted between the search and this lookup is shown without a name rather than
/// failing the whole request.
fn subject_name(
    store: &std::sync::Arc<dyn facenet_store::Store>,
    id: &str,
) -> Result<String, ApiError> {
    match store.get_subject(id) {
        Ok(s) => Ok(s.name),
        Err(facenet_store::Error::NotFound { .. }) => Ok(String::new()),
        Err(e) => Err(e.into()),
    }
}

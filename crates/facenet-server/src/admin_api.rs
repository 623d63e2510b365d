//! Administration routes: API keys and the audit log.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use facenet_store::Role;
use serde::Deserialize;

use crate::error::ApiError;
use crate::extract::{blocking, Caller, JsonBody, Page, Params};
use crate::AppState;

pub async fn list_keys(State(state): State<AppState>) -> Result<Response, ApiError> {
    let store = state.gallery.store.clone();
    let keys = blocking(move || Ok(store.list_keys()?)).await?;
    Ok(Json(serde_json::json!({ "keys": keys })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    role: Role,
    #[serde(default)]
    label: String,
}

/// The secret is in this response only; the store keeps its hash.
pub async fn create_key(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    JsonBody(body): JsonBody<NewKey>,
) -> Result<Response, ApiError> {
    let store = state.gallery.store.clone();
    let (info, secret) =
        blocking(move || Ok(store.create_key(&ctx, body.role, &body.label)?)).await?;
    let v = serde_json::json!({
        "id": info.id, "key": secret, "role": info.role,
        "label": info.label, "created_at": info.created_at,
    });
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

pub async fn revoke_key(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let store = state.gallery.store.clone();
    let info = blocking(move || Ok(store.revoke_key(&ctx, &id)?)).await?;
    Ok(Json(info).into_response())
}

pub async fn audit_log(
    State(state): State<AppState>,
    Params(page): Params<Page>,
) -> Result<Response, ApiError> {
    let (offset, limit) = page.checked()?;
    let store = state.gallery.store.clone();
    let entries = blocking(move || Ok(store.audit(offset, limit)?)).await?;
    Ok(
        Json(serde_json::json!({ "entries": entries, "offset": offset, "limit": limit }))
            .into_response(),
    )
}

/// Checks the whole hash chain; a broken chain is 500 `audit_broken` naming the first bad row.
pub async fn audit_verify(State(state): State<AppState>) -> Result<Response, ApiError> {
    let store = state.gallery.store.clone();
    let rows = blocking(move || Ok(store.verify_audit()?)).await?;
    Ok(Json(serde_json::json!({ "intact": true, "rows": rows })).into_response())
}

//! Extractors shared by the gallery and administration routes: who is calling, JSON bodies and
//! query strings whose failures come back as the service's own error codes.

use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use facenet_store::AuditCtx;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::{AppState, REQUEST_ID};

/// The authenticated caller and the request id, as the audit log records them.
pub struct Caller(pub AuditCtx);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        // The authorization layer puts a principal on every non-public route; its absence is a
        // routing bug, refused rather than audited as nobody.
        let p = parts.extensions.get::<Principal>().ok_or_else(|| {
            tracing::error!("principal missing on an authenticated route");
            ApiError::internal()
        })?;
        let id = parts
            .headers
            .get(&REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        Ok(Caller(AuditCtx::new(p.key_id.clone(), id)))
    }
}

/// A JSON body; a wrong content type is 415, broken JSON 400 `invalid_json`, a body of the
/// wrong shape 400 `invalid_request` naming the field.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        use axum::extract::rejection::JsonRejection as R;
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(JsonBody(v)),
            Err(R::MissingJsonContentType(_)) => Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send this body as application/json",
            )),
            Err(R::JsonSyntaxError(e)) => Err(ApiError::bad_request(
                "invalid_json",
                format!("the body is not valid JSON: {}", e.body_text()),
            )),
            Err(R::JsonDataError(e)) => Err(ApiError::bad_request(
                "invalid_request",
                format!(
                    "the JSON does not have the expected fields: {}",
                    e.body_text()
                ),
            )),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the request body is too large",
            )),
            Err(e) => Err(ApiError::bad_request("invalid_request", e.body_text())),
        }
    }
}

/// A query string; unknown or malformed parameters are 400 `invalid_query`.
pub struct Params<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| Params(v))
            .map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))
    }
}

/// `?offset=&limit=` for listings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    #[serde(default)]
    pub offset: u64,
    #[serde(default = "default_limit")]
    pub limit: u32,
}

fn default_limit() -> u32 {
    50
}

impl Page {
    pub fn checked(&self) -> Result<(u64, u32), ApiError> {
        if !(1..=facenet_store::MAX_PAGE).contains(&self.limit) {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("limit must be 1..={}", facenet_store::MAX_PAGE),
            ));
        }
        Ok((self.offset, self.limit))
    }
}

/// Runs store work (synchronous SQLite) on the blocking pool.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || {
        let _in_request = span.enter();
        f()
    })
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "blocking task failed");
        ApiError::internal()
    })?
}
